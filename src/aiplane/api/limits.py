"""A bound on the size of request bodies, before anything parses them (decision 0028).

Every body the API takes is a JSON document a person wrote (a workload, a fleet, a token
request): a megabyte is far more than any of them. A larger one is refused with 413 and the
error body, whether it says its size (``Content-Length``) or streams without one: the bytes
are counted as they arrive, and at most the limit is ever held in memory.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiplane.api.errors import audit_failure, body

MAX_BODY_BYTES = 1024 * 1024
CODE = "payload_too_large"


class BodyLimit:
    """ASGI middleware: an HTTP request whose body is over ``limit`` bytes gets 413."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        exempt: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        # (method, path prefix) of the routes that stream their bodies themselves (blobs).
        self.exempt = exempt

    def _exempt(self, scope: Scope) -> bool:
        method, path = scope.get("method", ""), scope.get("path", "")
        return any(method == m and path.startswith(prefix) for m, prefix in self.exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, send, f"{declared} bytes")
            return
        # Read the body here, counting, and hand the app what was read: the app never sees a
        # body over the limit, and nothing past the limit is kept.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: the app hears it
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, send, f"more than {self.limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), message, receive), send)

    async def _refuse(self, scope: Scope, send: Send, given: str) -> None:
        message = f"request body too large: at most {self.limit} bytes"
        problem = {
            "location": "body",
            "message": "too large",
            "given": given,
            "allowed": f"at most {self.limit} bytes ({self.limit // 1024} KiB)",
        }
        # A refused change is on the audit record like any other (no caller: not read yet).
        await run_in_threadpool(audit_failure, Request(scope), CODE, message)
        payload = json.dumps(body(CODE, message, [problem])).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # The rest of the body is not read: the connection is not reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(data: bytes, last: Message, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read already, then the server's own; or,
    when the client went away before the end of it, the disconnect alone."""
    whole: Message = {"type": "http.request", "body": data, "more_body": False}
    pending: list[Message] = [whole if last["type"] == "http.request" else last]

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
