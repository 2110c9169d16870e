"""A small model server for an endpoint's replica: the Open Inference Protocol over HTTP
(stdlib only).

It listens on $AIPLANE_PORT (the port the backend gave the replica), answers
``GET /v2/health/ready`` once it is up, and scores each row of the first input of
``POST /v2/models/<name>/infer`` with a fixed logistic model (a few dot products), so that a
replica at the edge and one in the cloud give the same answers. aiplane's gateway routes to it.

    AIPLANE_PORT=8500 python3 serve.py
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FEATURES = 8
_rng = random.Random(11)
WEIGHTS = [_rng.gauss(0, 1) for _ in range(FEATURES)]
SITE = os.environ.get("AIPLANE_SITE", "this machine")


def score(row: list[float]) -> float:
    z = sum(w * x for w, x in zip(WEIGHTS, row, strict=False))
    return 1.0 / (1.0 + math.exp(-z))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the gateway pools its connections

    def do_GET(self) -> None:
        if self.path in ("/v2/health/ready", "/v2/health/live"):
            self._answer(200, {})
        elif self.path.startswith("/v2/models/"):
            name = self.path.split("/")[3]
            inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, FEATURES]}]
            self._answer(200, {"name": name, "platform": "python", "inputs": inputs})
        else:
            self._answer(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        parts = self.path.split("/")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if len(parts) < 5 or parts[1:3] != ["v2", "models"] or parts[-1] != "infer":
            self._answer(404, {"error": f"no route {self.path}"})
            return
        try:
            first = json.loads(body)["inputs"][0]
            data = [float(v) for v in first["data"]]
            rows = [data[i : i + FEATURES] for i in range(0, len(data), FEATURES)] or [[]]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._answer(400, {"error": f"not an inference request: {exc}"})
            return
        scores = [score(row) for row in rows]
        output = {"name": "score", "datatype": "FP32", "shape": [len(scores)], "data": scores}
        self._answer(200, {"model_name": parts[3], "outputs": [output]})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass  # one line per request would drown the replica's log


def main() -> None:
    port = int(os.environ.get("AIPLANE_PORT", "8500"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving the scorer at {SITE} on 127.0.0.1:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    print("stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
