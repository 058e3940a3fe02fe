"""psycopg (3) through vecgate: prints one JSON document of what it saw.

usage: pg_clients.py vector HOST PORT USER PASSWORD   KNN, prepared statements, a transaction (pgvector upstream)
       pg_clients.py control HOST PORT USER PASSWORD  refusal + reuse, cancel of pg_sleep, wrong token (PostgreSQL 15)
"""
import json
import sys
import threading
import time

import psycopg
from psycopg import errors


def connect(host, port, user, password, **kw):
    return psycopg.connect(host=host, port=int(port), user=user, password=password, dbname="postgres",
                           sslmode="disable", connect_timeout=10, **kw)


def vector(host, port, user, password):
    out = {}
    with connect(host, port, user, password, autocommit=True) as conn:
        q = "SELECT id, content FROM py_docs ORDER BY embedding <-> %s::vector LIMIT 3"
        out["l2"] = conn.execute(q, ("[1,1,1]",)).fetchall()
        out["cosine"] = conn.execute(
            "SELECT id FROM py_docs ORDER BY embedding <=> %s::vector LIMIT 3", ("[1,0,0]",)).fetchall()
        # prepare=True: a server-side prepared statement, executed again with other values
        out["prepared"] = [conn.execute("SELECT content FROM py_docs WHERE id = %s", (i,), prepare=True).fetchone()[0]
                           for i in (1, 2, 1)]
        with conn.transaction():
            conn.execute("INSERT INTO py_docs (id, content, embedding) VALUES (%s, %s, %s::vector)", (100, "tx", "[9,9,9]"))
        out["after_tx"] = conn.execute("SELECT content FROM py_docs WHERE id = 100").fetchone()[0]
        try:
            with conn.transaction():
                conn.execute("INSERT INTO py_docs (id, content, embedding) VALUES (101, 'rolled back', '[0,0,0]')")
                raise RuntimeError("rollback")
        except RuntimeError:
            pass
        out["rolled_back"] = conn.execute("SELECT count(*) FROM py_docs WHERE id = 101").fetchone()[0]
    return out


def control(host, port, user, password):
    out = {}
    with connect(host, port, user, password, autocommit=True) as conn:
        try:
            conn.execute("SELECT * FROM secret_notes")
            out["denied"] = None
        except errors.InsufficientPrivilege as e:
            out["denied"] = e.sqlstate
        out["after_denied"] = conn.execute("SELECT 1").fetchone()[0]
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        t0 = time.time()
        try:
            conn.execute("SELECT pg_sleep(20)")
            out["cancelled"] = None
        except errors.QueryCanceled as e:
            out["cancelled"] = e.sqlstate
        out["cancel_quick"] = time.time() - t0 < 10
        out["after_cancel"] = conn.execute("SELECT 2").fetchone()[0]
    try:
        connect(host, port, user, "not-a-token").close()
        out["wrong_token"] = None
    except psycopg.OperationalError as e:
        out["wrong_token"] = "28P01" if "28P01" in str(e) or "token" in str(e) else str(e)
    return out


if __name__ == "__main__":
    mode, host, port, user, password = sys.argv[1:6]
    print(json.dumps({"vector": vector, "control": control}[mode](host, port, user, password)))
