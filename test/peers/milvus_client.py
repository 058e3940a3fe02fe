"""Drives a Milvus-protocol server with pymilvus (the official Python SDK) through one collection's
whole life, and prints what it saw as one JSON document on stdout.

usage: milvus_client.py ADDRESS COLLECTION [--token TOKEN] [--db NAME]
The gateway tests reuse it with the gateway's address and a vecgate token.
"""
import argparse
import json
import sys

import grpc
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException


def _count(r) -> int:
    """pymilvus 3 returns the deleted primary keys (a list), 2.x a dict with delete_count"""
    return len(r) if isinstance(r, list) else r["delete_count"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("collection")
    ap.add_argument("--token", default="root:Milvus")
    ap.add_argument("--db", default=None)
    ap.add_argument("--steps", default="all", help="comma-separated subset of the steps, or 'all'")
    a = ap.parse_args()

    out: dict = {"steps": []}
    kw = {"uri": f"http://{a.address}", "token": a.token, "timeout": 20}
    if a.db:
        kw["db_name"] = a.db
    try:
        c = MilvusClient(**kw)
    except grpc.RpcError as e:
        json.dump({"steps": [], "error": {"code": e.code().name, "message": e.details()}}, sys.stdout)
        return 0
    except MilvusException as e:
        json.dump({"steps": [], "error": {"code": e.code, "message": e.message}}, sys.stdout)
        return 0
    name = a.collection
    try:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=4)
        schema.add_field("email", DataType.VARCHAR, max_length=128)
        schema.add_field("meta", DataType.JSON)
        c.create_collection(name, schema=schema)
        out["steps"].append("create")

        rows = [
            {"id": i, "vec": [float(i), 0.0, 0.0, 1.0], "email": f"user{i}@example.com", "meta": {"n": i}, "tag": f"t{i}"}
            for i in range(1, 6)
        ]
        out["inserted"] = c.insert(name, rows)["insert_count"]
        out["steps"].append("insert")

        idx = c.prepare_index_params()
        idx.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
        c.create_index(name, idx)
        out["steps"].append("index")
        c.load_collection(name)
        out["steps"].append("load")

        hits = c.search(name, data=[[1.0, 0.0, 0.0, 1.0]], limit=3, output_fields=["email", "meta", "tag"])
        out["search"] = [{"id": h["id"], "email": h["entity"].get("email"), "meta": h["entity"].get("meta"), "tag": h["entity"].get("tag")} for h in hits[0]]
        out["steps"].append("search")

        q = c.query(name, filter="id in [1, 2]", output_fields=["id", "email", "vec"])
        out["query"] = sorted(({"id": r["id"], "email": r["email"], "vec": [float(x) for x in r["vec"]]} for r in q), key=lambda r: r["id"])
        out["steps"].append("query")

        out["deleteIds"] = _count(c.delete(name, ids=[1]))
        out["steps"].append("delete-ids")
        out["deleteExpr"] = _count(c.delete(name, filter="id >= 4"))
        out["steps"].append("delete-expr")
        out["left"] = sorted(r["id"] for r in c.query(name, filter="id >= 0", output_fields=["id"]))
        c.drop_collection(name)
        out["steps"].append("drop")
        out["exists"] = c.has_collection(name)
    except MilvusException as e:
        out["error"] = {"code": e.code, "message": e.message}
    except grpc.RpcError as e:  # refusals reach the caller as grpcio errors (PERMISSION_DENIED, UNAUTHENTICATED)
        out["error"] = {"code": e.code().name, "message": e.details()}
    finally:
        c.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
