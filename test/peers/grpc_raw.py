"""
grpcio (the C-core gRPC stack of the official Python clients) making raw unary calls: request and
response bodies are bytes the test encodes and decodes itself, so any method of any service can be
called without generated stubs.

stdin: {"target": "host:port", "calls": [{"method": "/pkg.Svc/M", "request": "<hex>",
         "metadata": [[k, v]], "timeout": seconds, "gzip": bool, "repeat": n}]}
stdout: one JSON document: [[{"code": "OK", "details": str, "response": "<hex>"|null,
         "trailing": [[k, v]]}, ... one per repeat], ... one list per call spec]
Every repeat of a spec is in flight at the same time (futures on one channel).
"""
import json
import sys

import grpc


def pairs(md):
    """metadata as [key, value] pairs; binary (-bin) values as hex"""
    return [[k, v.hex() if isinstance(v, bytes) else v] for k, v in (md or [])]


def main():
    req = json.load(sys.stdin)
    channel = grpc.insecure_channel(req["target"], options=[
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.enable_retries", 0),
    ])
    grpc.channel_ready_future(channel).result(timeout=10)
    out = []
    for spec in req["calls"]:
        call = channel.unary_unary(spec["method"], request_serializer=None, response_deserializer=None)
        body = bytes.fromhex(spec["request"])
        kwargs = {
            "metadata": [tuple(m) for m in spec.get("metadata", [])],
            "timeout": spec.get("timeout", 10),
        }
        if spec.get("gzip"):
            kwargs["compression"] = grpc.Compression.Gzip
        futures = [call.future(body, **kwargs) for _ in range(spec.get("repeat", 1))]
        results = []
        for f in futures:
            try:
                resp = f.result()
                results.append({"code": "OK", "details": "", "response": resp.hex(),
                                "trailing": pairs(f.trailing_metadata())})
            except grpc.RpcError as e:
                results.append({"code": e.code().name, "details": e.details() or "", "response": None,
                                "trailing": pairs(e.trailing_metadata())})
        out.append(results)
    channel.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
