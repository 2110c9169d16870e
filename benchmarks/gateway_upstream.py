"""A small, fast upstream for the gateway benchmarks: an Open Inference Protocol replica that
answers every infer with the same outputs, ready at once, and names itself in a header.

Run: ``python benchmarks/gateway_upstream.py PORT [NAME]`` (uvicorn, httptools, one worker).
Raw ASGI on purpose: what the benchmarks measure is the gateway, so the upstream must cost as
little as possible.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def build(name: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    answer = json.dumps(
        {
            "model_name": name,
            "model_version": "1",
            "outputs": [{"name": "score", "shape": [1], "datatype": "FP32", "data": [0.5]}],
        }
    ).encode()
    ready = b'{"ready": true}'
    headers = [(b"content-type", b"application/json"), (b"x-upstream", name.encode())]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:  # drain the body
            message = await receive()
            more = message.get("more_body", False)
        body = answer if scope["method"] == "POST" else ready
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    port = int(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "upstream"
    uvicorn.run(
        build(name),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
