"""psycopg (3) running a statement that vecgate holds for approval; prints one JSON document.

usage: pg_approval.py HOST PORT USER PASSWORD GROUP MAX_N
  DELETE FROM docs WHERE grp = %s AND n <= %b  (server-side binding: a text and a binary parameter)
  -> {"rowcount": N, "after": 1}                  when it was approved and ran
  -> {"sqlstate": "...", "hint": "...", "after": 1}  when it was refused; "after" shows the session still works
"""
import json
import sys

import psycopg


def main(host, port, user, password, grp, max_n):
    out = {}
    with psycopg.connect(host=host, port=int(port), user=user, password=password, dbname="postgres",
                         sslmode="disable", connect_timeout=10, autocommit=True) as conn:
        try:
            cur = conn.execute("DELETE FROM docs WHERE grp = %s AND n <= %b", (grp, int(max_n)))
            out["rowcount"] = cur.rowcount
        except psycopg.Error as e:
            out["sqlstate"] = e.sqlstate
            out["hint"] = e.diag.message_hint
        out["after"] = conn.execute("SELECT 1").fetchone()[0]
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:7])))
