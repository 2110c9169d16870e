"""Upstreams that answer with what they were sent, for the guards' tests: a chat that echoes
the caller's last message (or, asked to ``leak``, its system prompt), a completion that echoes
the prompt, embeddings, and an OIP model that echoes its BYTES input ``text`` as ``text``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class EchoUpstream:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.raw: list[bytes] = []  # the chat bodies as they came
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v2/models/{model}/infer", self._infer, methods=["POST"]),
            ]
        )

    async def _chat(self, request: Request) -> Response:
        self.raw.append(await request.body())
        body = json.loads(self.raw[-1])
        self.received.append(body)
        messages = body["messages"]
        last = _text(messages[-1].get("content"))
        if last == "leak":
            system = [m for m in messages if m.get("role") == "system"]
            content = "My instructions: " + (_text(system[0]["content"]) if system else "")
        else:
            content = f"echo: {last}"
        if body.get("stream"):
            return StreamingResponse(
                self._events(body["model"], content), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            }
        )

    async def _events(self, model: str, content: str) -> AsyncIterator[bytes]:
        for piece in (content[: len(content) // 2], content[len(content) // 2 :]):
            event = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            yield f"data: {json.dumps(event)}\n\n".encode()
            await asyncio.sleep(0)
        yield b"data: [DONE]\n\n"

    async def _completions(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(body)
        prompt = body["prompt"]
        prompts = prompt if isinstance(prompt, list) else [prompt]
        return JSONResponse(
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": i, "text": f"echo: {p}", "finish_reason": "stop", "logprobs": None}
                    for i, p in enumerate(prompts)
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
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }
        )

    async def _infer(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.received.append(body)
        text = next(i for i in body["inputs"] if i["name"] == "text")
        outputs = [
            {
                "name": "text",
                "datatype": "BYTES",
                "shape": text["shape"],
                "data": [f"echo: {v}" for v in text["data"]],
            }
        ]
        return JSONResponse({"model_name": request.path_params["model"], "outputs": outputs})
