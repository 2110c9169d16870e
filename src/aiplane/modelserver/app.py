"""The Open Inference Protocol (KServe v2, Triton's REST API) over one model version.

Health answers by status alone (200 true, 400 false, no body); metadata, inference and errors
are JSON, an error as ``{"error": "..."}`` with 400 (a request the model cannot take) or 404
(a model or version not served here). Every model route also answers under
``/v2/models/{name}/versions/{version}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import aiplane
from aiplane.modelserver.batching import Batcher
from aiplane.modelserver.model import ServedModel
from aiplane.modelserver.tensors import NotServedError, ProtocolError, encode, parse_request

SERVER_NAME = "aiplane-modelserver"


@dataclass
class Serving:
    """The one version this server serves, and whether it takes requests (not while it
    drains). It answers to ``name`` and to each of ``aliases`` (the registry's model name when
    an endpoint serves it under its own), each answer under the name it was asked by."""

    name: str
    version: str
    model: ServedModel
    batcher: Batcher
    ready: bool = True
    aliases: tuple[str, ...] = ()

    def check(self, request: Request) -> str:
        """The name ``request`` asks for; NotServedError unless it is served here."""
        params = request.path_params
        name = params["name"]
        if name != self.name and name not in self.aliases:
            served = ", ".join(repr(n) for n in (self.name, *self.aliases))
            raise NotServedError(f"model {name!r} is not served here; {served} is")
        version = params.get("version")
        if version is not None and version != self.version:
            raise NotServedError(
                f"version {version!r} of {name!r} is not served here; {self.version!r} is"
            )
        return str(name)


def _error(exc: ProtocolError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def _health(ok: bool) -> Response:
    return Response(status_code=200 if ok else 400)


class _Handlers:
    def __init__(self, serving: Serving) -> None:
        self.serving = serving

    async def live(self, _: Request) -> Response:
        return _health(True)

    async def ready(self, _: Request) -> Response:
        return _health(self.serving.ready)

    async def server_metadata(self, _: Request) -> Response:
        return JSONResponse({"name": SERVER_NAME, "version": aiplane.__version__, "extensions": []})

    async def model_metadata(self, request: Request) -> Response:
        serving = self.serving
        try:
            name = serving.check(request)
        except ProtocolError as exc:
            return _error(exc)
        model = serving.model
        return JSONResponse(
            {
                "name": name,
                "versions": [serving.version],
                "platform": model.platform,
                "inputs": [s.to_dict() for s in model.inputs],
                "outputs": [s.to_dict() for s in model.outputs],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        try:
            self.serving.check(request)
        except ProtocolError as exc:
            return _error(exc)
        return _health(self.serving.ready)

    async def infer(self, request: Request) -> Response:
        try:
            answer = await self._infer(request)
        except ProtocolError as exc:
            return _error(exc)
        try:
            return JSONResponse(answer)
        except ValueError:  # NaN or infinity: JSON has no such numbers
            message = "the model's outputs hold NaN or infinity, which JSON cannot carry"
            return JSONResponse({"error": message}, status_code=500)

    async def _infer(self, request: Request) -> dict[str, Any]:
        serving = self.serving
        name = serving.check(request)
        if not serving.ready:
            raise ProtocolError(f"model {name!r} is not ready")
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise ProtocolError(f"the request is not JSON ({exc})") from None
        model = serving.model
        parsed = parse_request(body, model.inputs, model.outputs, model.any_input_name)
        wanted = parsed.outputs or tuple(s.name for s in model.outputs)
        try:
            found = await serving.batcher.infer(parsed.inputs, wanted)
        except Exception as exc:  # what the model raised is the caller's 400
            raise ProtocolError(f"the model could not run on this request: {exc}") from exc
        answer: dict[str, Any] = {"model_name": name, "model_version": serving.version}
        if parsed.id is not None:
            answer["id"] = parsed.id
        answer["outputs"] = [encode(name, found[name]) for name in wanted]
        return answer


def create_app(serving: Serving) -> Starlette:
    h = _Handlers(serving)
    routes = [
        Route("/v2/health/live", h.live),
        Route("/v2/health/ready", h.ready),
        Route("/v2", h.server_metadata),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, h.model_metadata, methods=["GET"]),
            Route(prefix + "/ready", h.model_ready, methods=["GET"]),
            Route(prefix + "/infer", h.infer, methods=["POST"]),
        ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        # Uvicorn has finished the requests it held: nothing more is taken.
        serving.ready = False
        await serving.batcher.close()

    return Starlette(routes=routes, lifespan=lifespan)
