"""Drives a Qdrant-protocol server over gRPC with the official Python client (qdrant-client,
prefer_grpc=True, i.e. grpcio) through one collection's whole life, and prints what it saw as one JSON
document on stdout. Errors are reported as {"error": {"code": NAME, "details": TEXT}} for the step.

usage: qdrant_grpcio.py HOST PORT COLLECTION --key KEY [--steps all|a,b,...]
"""
import argparse
import json
import sys

import grpc
from qdrant_client import QdrantClient, models


def points_json(points):
    out = []
    for p in points:
        d = {"id": p.id, "payload": p.payload}
        if getattr(p, "score", None) is not None:
            d["score"] = round(p.score, 5)
        if p.vector is not None:
            d["vector"] = [round(x, 5) for x in p.vector] if isinstance(p.vector, list) else p.vector
        out.append(d)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("collection")
    ap.add_argument("--key", default=None)
    ap.add_argument("--steps", default="all")
    a = ap.parse_args()
    steps = None if a.steps == "all" else set(a.steps.split(","))
    c = QdrantClient(host=a.host, grpc_port=a.port, prefer_grpc=True, api_key=a.key, https=False,
                     check_compatibility=False, timeout=20)
    name = a.collection
    out = {}

    def step(label, fn):
        if steps is not None and label not in steps:
            return
        try:
            out[label] = fn()
        except grpc.RpcError as e:  # grpcio's error, as an unchanged client sees it
            out[label] = {"error": {"code": e.code().name, "details": e.details()}}
        except Exception as e:  # qdrant-client wraps some errors
            inner = getattr(e, "__cause__", None) or getattr(e, "__context__", None)
            if isinstance(inner, grpc.RpcError):
                out[label] = {"error": {"code": inner.code().name, "details": inner.details()}}
            else:
                out[label] = {"error": {"code": type(e).__name__, "details": str(e)}}

    step("create", lambda: c.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)))
    step("upsert", lambda: str(c.upsert(name, points=[
        models.PointStruct(id=i, vector=[float(i), 1.0, 0.5, float(i % 3)],
                           payload={"email": f"user{i}@example.com", "group": "a" if i % 2 else "b", "n": i})
        for i in range(1, 11)
    ], wait=True).status))
    step("search", lambda: points_json(c.query_points(name, query=[1.0, 1.0, 0.5, 1.0], limit=3, with_payload=True).points))
    step("search_filter", lambda: points_json(c.query_points(name, query=[1.0, 1.0, 0.5, 1.0], limit=5,
        query_filter=models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value="a"))])).points))
    step("scroll", lambda: points_json(c.scroll(name, limit=4, with_vectors=True)[0]))
    step("get", lambda: points_json(c.retrieve(name, ids=[2, 3], with_vectors=False)))
    step("count", lambda: c.count(name, exact=True).count)
    step("delete_ids", lambda: str(c.delete(name, points_selector=models.PointIdsList(points=[1, 2]), wait=True).status))
    step("delete_filter", lambda: str(c.delete(name, points_selector=models.FilterSelector(
        filter=models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value="b"))])), wait=True).status))
    step("count_after", lambda: c.count(name, exact=True).count)
    step("drop", lambda: c.delete_collection(name))
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
