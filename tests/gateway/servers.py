"""Real HTTP servers for the gateway's tests: uvicorn on a free port of 127.0.0.1, each in a
thread of its own, stopped by the test that starts it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp


class Served:
    """``app`` served by uvicorn in a thread, lifespan included, until ``stop``."""

    def __init__(self, app: ASGIApp, lifespan: Literal["on", "off"] = "off") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, args=([self._sock],))
        self._thread.start()
        for _ in range(1000):  # bounded: 10 s
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError("the test server did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class UpstreamProcess:
    """An ``OipUpstream`` in a process of its own (off this process's GIL: the load tests
    send thousands of requests), on a socket bound here so its port is known at once."""

    def __init__(self, name: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        fd = self._sock.fileno()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(root, "src"), root])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.upstream_main", str(fd), name],
            pass_fds=[fd],
            cwd=root,
            env=env,
        )
        # The child holds the socket now: once it dies, connections are refused at once.
        self._sock.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/v2/models/m/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"upstream process {name} did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._sock.close()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._sock.close()


class OipUpstream:
    """A tiny Open Inference Protocol server: doubles its input ``x`` as output ``y``, and
    says who answered (``name``)."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.name = name
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/v2/models/{model}/infer", self._infer, methods=["POST"]),
                Route("/v2/models/{model}/versions/{v}/infer", self._infer, methods=["POST"]),
                Route("/v2/models/{model}", self._metadata, methods=["GET"]),
                Route("/v2/models/{model}/ready", self._ready, methods=["GET"]),
            ]
        )

    async def _infer(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(body)
        self.headers.append(dict(request.headers))
        if self.status != 200:
            return JSONResponse({"error": f"{self.name} fails"}, status_code=self.status)
        x = next(i for i in body["inputs"] if i["name"] == "x")
        outputs = [
            {
                "name": "y",
                "datatype": "FP64",
                "shape": x["shape"],
                "data": [2 * v for v in x["data"]],
            }
        ]
        return JSONResponse(
            {
                "model_name": request.path_params["model"],
                "id": body.get("id", ""),
                "outputs": outputs,
                "by": self.name,
            },
            headers={"set-cookie": f"replica={self.name}; Path=/"},
        )

    async def _metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": request.path_params["model"], "platform": "test", "by": self.name}
        )

    async def _ready(self, _request: Request) -> Response:
        return Response(status_code=200)


USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


class OpenAiUpstream:
    """An OpenAI-compatible server: chat (streamed as server-sent events when asked),
    completions and embeddings, each with a fixed usage. A streamed answer sends its first
    event, then waits for ``gate`` before the rest: a test can see that the first event
    reached it while the upstream had not finished."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.finished = threading.Event()
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(body)
        if body.get("stream"):
            return StreamingResponse(self._events(body["model"]), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hello"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            }
        )

    async def _events(self, model: str) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
            event: dict[str, Any] = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                event["usage"] = usage
            return f"data: {json.dumps(event)}\n\n".encode()

        yield chunk({"role": "assistant", "content": "hel"})
        for _ in range(1000):  # bounded: 10 s
            if self.gate.is_set():
                break
            await asyncio.sleep(0.01)
        yield chunk({"content": "lo"})
        yield chunk({}, "stop", USAGE)
        yield b"data: [DONE]\n\n"
        self.finished.set()

    async def _completions(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(body)
        return JSONResponse(
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": 0, "text": " world", "finish_reason": "stop", "logprobs": None}
                ],
                "usage": USAGE,
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(body)
        return JSONResponse(
            {
                "object": "list",
                "model": body["model"],
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }
        )
