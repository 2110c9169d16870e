"""The gateway app: its routes, and the background tasks that keep its table fresh, report
what it served and write the inference log."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import prometheus_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aiplane.core.auth import Caller
from aiplane.core.routing import Router
from aiplane.core.serving.access import invoke_denial
from aiplane.core.serving.endpoints import EndpointSpec, Protocol, Role
from aiplane.core.serving.routes import EndpointRoute, RoutingTable
from aiplane.gateway import records
from aiplane.gateway.auth import AuthCache, credential
from aiplane.gateway.errors import error
from aiplane.gateway.guard_audit import GuardAudit
from aiplane.gateway.guarding import Checked, Guarding, blocked_record
from aiplane.gateway.limits import LimiterUnavailableError, Limits
from aiplane.gateway.logwriter import LogWriter
from aiplane.gateway.metrics import GatewayMetrics
from aiplane.gateway.proxy import Admitted, Proxy, forwarded_headers
from aiplane.gateway.region import Regions
from aiplane.gateway.reports import Counts, Loads
from aiplane.gateway.settings import GatewaySettings
from aiplane.ratelimit.base import RateLimiter
from aiplane.services.serving_ports import GatewayControl
from aiplane.streams.base import InferenceLog

logger = logging.getLogger(__name__)

LIMITER_WARN_EVERY_S = 10.0


class Gateway:
    """The ASGI ``app`` and the tasks behind it; ``app``'s lifespan runs ``start``/``stop``
    (or the process that mounts the app calls them itself)."""

    def __init__(
        self,
        control: GatewayControl,
        limiter: RateLimiter,
        log: InferenceLog,
        settings: GatewaySettings,
        clock: Callable[[], float],
        rng: random.Random,
        registry: prometheus_client.CollectorRegistry,
    ) -> None:
        self.settings = settings
        self._control = control
        self._limiter = limiter
        self._log = log
        self._clock = clock
        self._rng = rng
        self.metrics = GatewayMetrics(registry)
        self.router = Router()
        self.table = RoutingTable(endpoints={}, built_at=0.0)
        self._loaded = False
        self._auth = AuthCache(control.authenticate, settings.auth_cache_s, clock)
        self._regions = Regions(settings.region_header, settings.client_networks)
        self._limits = Limits(limiter)
        self._limiter_warned = -LIMITER_WARN_EVERY_S
        self._loads = Loads(clock())
        self._counts = Counts()
        self._writer = LogWriter(log, settings.log_queue, self.metrics.log_dropped)
        self._guard_audit = GuardAudit(
            control.record_guard_hits, settings.log_queue, self.metrics.guard_audit_dropped
        )
        self._guarding = Guarding(self.metrics, self._guard_audit)
        self._client: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._proxy = Proxy(
            self._http,
            self.router,
            self._limits,
            self._counts,
            self.metrics,
            self._writer,
            clock,
            rng,
        )
        self._starlette = Starlette(routes=self._routes(), lifespan=self._lifespan)
        self.app = _App(self._asgi)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the upstream pool, load the table once, and start the background tasks."""
        if self._client is None:
            timeout_s = self.settings.upstream_timeout_s
            self._client = aiohttp.ClientSession(
                # aiohttp's pool and client, not httpx's (decision 0061): httpcore's pool
                # checks every pooled connection's socket on each request, and httpx's
                # request and response models cost more than the rest of the gateway.
                connector=aiohttp.TCPConnector(limit=self.settings.max_connections),
                # Per step, as httpx's were: a wait for a pooled connection and each read
                # may take the whole timeout, a new connection at most 5 s.
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout_s,
                    sock_connect=min(5.0, timeout_s),
                    sock_read=timeout_s,
                ),
                trust_env=False,
                # One client serves every caller: a replica's Set-Cookie must not ride along
                # on the next caller's request, so the jar keeps nothing.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        await self.refresh()
        # What start-up made (modules, apps, the table) lives as long as the process: frozen
        # out of the collector's sight, a full collection no longer walks it. Before, one
        # took 45 ms here every few seconds under load, and set the gateway's p99.
        gc.collect()
        gc.freeze()
        self._tasks = [
            asyncio.create_task(self._every(self.settings.table_refresh_s, self.refresh)),
            asyncio.create_task(self._every(self.settings.report_every_s, self.report)),
            asyncio.create_task(self._writer.run()),
            asyncio.create_task(self._guard_audit.run()),
        ]

    async def stop(self) -> None:
        """Stop the tasks, write what waits for the log, report once more, close the pool."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._proxy.drain()
        await self._writer.flush()
        await self._guard_audit.flush()
        await self.report()
        if self._client is not None:
            await self._client.close()
            self._client = None

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None:
            raise RuntimeError("the gateway is not started: call start() (or run its lifespan)")
        return self._client

    async def _every(self, period_s: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await step()
            except Exception:
                logger.exception("gateway: a background step failed; it runs again next period")

    async def refresh(self) -> None:
        """A new routing table from the control plane (in a thread: the port is sync); on a
        failure the table in hand stays."""
        try:
            table = await asyncio.to_thread(self._control.table)
        except Exception:
            logger.exception("gateway: the routing table could not be fetched; keeping the last")
            return
        self.table = table
        self._loaded = True
        self.router.forget([r.run_id for e in table.endpoints.values() for r in e.replicas])
        self.metrics.table(table)

    async def report(self) -> None:
        """Loads and counts since the last report, to the control plane (in a thread)."""
        now = self._clock()
        replicas = {r.run_id: n for n, e in self.table.endpoints.items() for r in e.replicas}
        loads = self._loads.take(now, self.router.snapshot(now), replicas)
        counts = self._counts.take()
        if not loads and not counts:
            return
        try:
            await asyncio.to_thread(self._control.report, loads, counts)
        except Exception:
            logger.exception("gateway: report failed; its counts go with the next one")
            self._counts.restore(counts)

    # -- routes ----------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        return [
            Route("/v2/health/live", self._live, methods=["GET"]),
            Route("/v2/health/ready", self._ready, methods=["GET"]),
            Route("/v2/models/{endpoint}/infer", self._oip, methods=["POST"]),
            Route("/v2/models/{endpoint}/versions/{version}/infer", self._oip, methods=["POST"]),
            Route("/v2/models/{endpoint}", self._oip, methods=["GET"]),
            Route("/v2/models/{endpoint}/ready", self._oip, methods=["GET"]),
            Route("/v2/models/{endpoint}/versions/{version}", self._oip, methods=["GET"]),
            Route("/v2/models/{endpoint}/versions/{version}/ready", self._oip, methods=["GET"]),
            Route("/v1/chat/completions", self._openai, methods=["POST"]),
            Route("/v1/completions", self._openai, methods=["POST"]),
            Route("/v1/embeddings", self._openai, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ]

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app. ``POST /v2/models/{name}/infer``, the route nearly every request
        takes, goes straight to its handler: Starlette's middleware and route matching were a
        tenth of the gateway's CPU per request. Everything else goes through Starlette."""
        if scope["type"] == "http" and scope["method"] == "POST":
            name = infer_target(route_path(scope))
            if name is not None:
                await self._infer(scope, receive, send, name)
                return
        await self._starlette(scope, receive, send)

    async def _infer(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        scope["path_params"] = {"endpoint": name}
        try:
            response = await self._oip(Request(scope, receive, send))
        except Exception:
            # What Starlette's ServerErrorMiddleware does: a bare 500 to the caller, the
            # error to the server's log. (Nothing is sent before the handler returns.)
            await Response("Internal Server Error", 500, media_type="text/plain")(
                scope, receive, send
            )
            raise
        await response(scope, receive, send)

    async def _live(self, _request: Request) -> Response:
        return JSONResponse({"live": True})

    async def _ready(self, _request: Request) -> Response:
        return JSONResponse({"ready": self._loaded}, status_code=200 if self._loaded else 503)

    async def _oip(self, request: Request) -> Response:
        arrived = time.perf_counter()
        name = request.path_params["endpoint"]
        invocation = request.method == "POST"
        body = await request.body() if invocation else b""
        parsed = records.parse(body) if invocation else None
        return await self._invoke(
            request, name, Protocol.OIP, invocation, body, parsed, False, arrived
        )

    async def _openai(self, request: Request) -> Response:
        arrived = time.perf_counter()
        body = await request.body()
        parsed = records.parse(body)
        if not isinstance(parsed, dict):
            return error(400, "the request body must be a JSON object", True)
        name = parsed.get("model")
        if not isinstance(name, str) or not name:
            return error(
                400, "body.model: the endpoint to call is missing (a string: its name)", True
            )
        stream = parsed.get("stream") is True
        return await self._invoke(
            request, name, Protocol.OPENAI, True, body, parsed, stream, arrived
        )

    async def _models(self, request: Request) -> Response:
        caller = await self._authenticate(request, "", openai=True)
        if isinstance(caller, Response):
            return caller
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": route.spec.team}
            for name, route in sorted(self.table.endpoints.items())
            if route.spec.protocol is Protocol.OPENAI and invoke_denial(caller, route.spec) is None
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _authenticate(
        self, request: Request, endpoint: str, openai: bool
    ) -> Caller | Response:
        """The caller behind the request's credential, or the 401 to answer."""
        token = credential(request.headers)
        if token is None:
            return self._refused(
                endpoint,
                401,
                "no credential: send 'Authorization: Bearer <token>' or 'x-api-key: <key>'",
                openai,
                "unauthenticated",
            )
        try:
            caller = await self._auth.caller(token)
        except Exception:
            logger.exception("gateway: authentication failed")
            return self._refused(
                endpoint,
                503,
                "the control plane could not check the credential; try again",
                openai,
                "auth_unavailable",
            )
        if caller is None:
            return self._refused(
                endpoint,
                401,
                "the token or API key is unknown, revoked or expired",
                openai,
                "unauthenticated",
            )
        return caller

    def _refused(
        self,
        endpoint: str,
        status: int,
        message: str,
        openai: bool,
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        # Only endpoints in the table name a series: a caller's typos must not grow them.
        label = endpoint if endpoint in self.table.endpoints else ""
        self.metrics.requests.labels(label, "", str(status)).inc()
        self.metrics.errors.labels(label, "", reason).inc()
        return error(status, message, openai, headers)

    def _limiter_failed(self, endpoint: str, exc: LimiterUnavailableError) -> None:
        self.metrics.errors.labels(endpoint, "", "limiter_unavailable").inc()
        now = time.monotonic()
        # Once per period, not once per request: a limiter that is down fails them all.
        if now - self._limiter_warned >= LIMITER_WARN_EVERY_S:
            self._limiter_warned = now
            logger.warning("gateway: serving without limits for now: %s", exc)

    async def _invoke(
        self,
        request: Request,
        name: str,
        protocol: Protocol,
        invocation: bool,
        body: bytes,
        parsed: Any,
        stream: bool,
        arrived: float,
    ) -> Response:
        openai = protocol is Protocol.OPENAI
        caller = await self._authenticate(request, name, openai)
        if isinstance(caller, Response):
            return caller
        route = self.table.endpoint(name)
        if route is None or route.spec.protocol is not protocol:
            kind = "OpenAI-compatible " if openai else "Open Inference Protocol "
            return self._refused(
                name, 404, f"no {kind}endpoint named {name!r}", openai, "not_found"
            )
        now = self._clock()
        denial = invoke_denial(caller, route.spec)
        if denial is not None:
            try:
                await asyncio.to_thread(self._control.record_denial, caller, name, denial, now)
            except Exception:
                # The refusal stands; only its audit entry is missing, and the log says so.
                logger.exception(
                    "gateway: the denial of %s on %s was not recorded", caller.name, name
                )
            return self._refused(name, 403, denial, openai, "forbidden")
        narrowed = self._narrowed(route, request.path_params.get("version"), openai)
        if isinstance(narrowed, Response):
            return narrowed
        route, role = narrowed
        limit_key = f"{name}:{caller.token_id or caller.name}"
        if invocation:
            try:
                refusal = await self._limits.admit(limit_key, route.spec.limits, openai, now)
            except LimiterUnavailableError as exc:
                self._limiter_failed(name, exc)
                refusal = None
            if refusal is not None:
                return self._refused(
                    name,
                    429,
                    refusal.message,
                    openai,
                    refusal.reason,
                    {"retry-after": str(refusal.retry_after_s)},
                )
        region = self._regions.region(
            request.headers.get(self._regions.header),
            request.client.host if request.client is not None else None,
        )
        guarded = self._guard(request, route.spec, caller, parsed, now, arrived, invocation)
        if isinstance(guarded, Response):
            return guarded
        path = upstream_path(request.scope)
        admitted = Admitted(
            route=route,
            caller=caller,
            limit_key=limit_key,
            openai=openai,
            invocation=invocation,
            method=request.method,
            path=path,
            headers=forwarded_headers(request.headers.raw),
            body=body,
            parsed=parsed,
            region=region,
            stream=stream,
            at=now,
            started=arrived,
            role=role,
        )
        if guarded is not None:
            guarded.onto(admitted)
        return await self._proxy.serve(admitted)

    def _narrowed(
        self, route: EndpointRoute, version: str | None, openai: bool
    ) -> tuple[EndpointRoute, Role | None] | Response:
        """The replicas that may answer: those of the asked ``version`` (with their role),
        else all; the refusal to answer when none serves it or the control plane refuses
        every one's model version."""
        name = route.spec.name
        role = None
        if version is not None:
            narrowed = version_route(route, version)
            if narrowed is None:
                served = sorted({r.version for r in route.replicas})
                return self._refused(
                    name,
                    404,
                    f"endpoint {name} serves no version {version!r} "
                    f"(serving: {', '.join(served) or 'none'})",
                    openai,
                    "not_found",
                )
            route, role = narrowed
        model_refusal = route.refusal()
        if model_refusal is not None:
            # The control plane refuses every replica's model version (decision 0069): no
            # upstream call; the control plane recorded the refusal when its verdict changed.
            return self._refused(name, 403, model_refusal, openai, "model_refused")
        return route, role

    def _guard(
        self,
        request: Request,
        spec: EndpointSpec,
        caller: Caller,
        parsed: Any,
        now: float,
        arrived: float,
        invocation: bool,
    ) -> Checked | Response | None:
        """The request guards of an endpoint that has any (None: it has none, nothing is
        looked at); a refusal is answered here, logged without its text."""
        if not invocation or not spec.guards.any:
            return None
        checked = self._guarding.check(spec, caller, now, route_path(request.scope), parsed)
        if checked.refusal is None:
            return checked
        latency_ms = (time.perf_counter() - arrived) * 1000.0
        refused = blocked_record(spec, caller, checked.request_id, now, latency_ms, checked.status)
        self._writer.put(refused)
        openai = spec.protocol is Protocol.OPENAI
        return self._refused(
            spec.name, checked.status, checked.refusal, openai, checked.reason, checked.headers
        )


class _App:
    """The gateway's ASGI app: an object with an async ``__call__``, which servers (uvicorn)
    take for ASGI 3, as they would not a bound method."""

    def __init__(self, handle: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The request's path inside the app (below the prefix it is mounted at, if any)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def infer_target(path: str) -> str | None:
    """The endpoint of ``/v2/models/{name}/infer`` (a name without a slash), else None."""
    prefix, suffix = "/v2/models/", "/infer"
    if not path.startswith(prefix) or not path.endswith(suffix):
        return None
    name = path[len(prefix) : -len(suffix)]
    return name if name and "/" not in name else None


def upstream_path(scope: Scope) -> str:
    """The path and query to send on to a replica: the path inside the app (a replica serves
    ``/v2/...``, whatever prefix the gateway is mounted at), quoted as Starlette's
    ``request.url`` quotes it (cheaper than building that URL)."""
    path = route_path(scope).replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def version_route(route: EndpointRoute, version: str) -> tuple[EndpointRoute, Role] | None:
    """The endpoint narrowed to the replicas of one version (its number, ``3`` for
    ``fraud@3``: the path goes on to the model server as it is, and it serves numbers), and
    their role (the primary's where both serve it); None when no replica serves it."""
    replicas = [r for r in route.replicas if r.version.rpartition("@")[2] == version]
    if not replicas:
        return None
    roles = {r.role for r in replicas}
    role = Role.PRIMARY if Role.PRIMARY in roles else replicas[0].role
    kept = tuple(r for r in replicas if r.role is role)
    return dataclasses.replace(route, replicas=kept), role


def create_gateway(
    control: GatewayControl,
    limiter: RateLimiter,
    log: InferenceLog,
    settings: GatewaySettings = GatewaySettings(),
    *,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    registry: prometheus_client.CollectorRegistry | None = None,
) -> Gateway:
    """The gateway over the control plane's port, a rate limiter and an inference log."""
    return Gateway(
        control,
        limiter,
        log,
        settings,
        clock,
        rng if rng is not None else random.Random(),  # noqa: S311 (load spreading, not secrets)
        registry if registry is not None else prometheus_client.CollectorRegistry(),
    )
