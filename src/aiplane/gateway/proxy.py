"""Forwarding one admitted request: a replica from the router, the emulated site's delay, the
upstream call over the pooled client, failover to another replica within the retry budget,
and the bookkeeping of each attempt (router, metrics, counts, the inference log)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from aiplane.core.auth import Caller
from aiplane.core.routing import Pick, Router
from aiplane.core.routing.split import shadowed, split
from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.inference import InferenceRecord
from aiplane.core.serving.routes import EndpointRoute
from aiplane.gateway import records
from aiplane.gateway.errors import error
from aiplane.gateway.guarding import AnswerGuard
from aiplane.gateway.limits import LimiterUnavailableError, Limits
from aiplane.gateway.logwriter import LogWriter
from aiplane.gateway.metrics import GatewayMetrics
from aiplane.gateway.reports import Counts, hour_of

# Answers that say the replica (not the request) failed: another replica may do better.
RETRYABLE = frozenset({502, 503, 504})
# Headers that belong to one hop, or that the gateway sets itself.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        "date",
        "server",
    }
)
# The caller's credential is the gateway's business, never the replica's; nor are its cookies
# (in `aiplane up` the gateway shares its origin with the dashboard).
_REQUEST_DROP = _HOP | {"authorization", "x-api-key", "accept-encoding", "cookie"}
_RESPONSE_DROP = _HOP | {"content-encoding"}


@dataclass
class Admitted:
    """A request past authentication, access and limits, ready to forward."""

    route: EndpointRoute
    caller: Caller
    limit_key: str
    openai: bool
    invocation: bool  # an inference (logged and counted), not a metadata read
    method: str
    path: str  # with the query string
    headers: list[tuple[str, str]]
    body: bytes
    parsed: Any
    region: str | None
    stream: bool
    at: float  # the clock's time at arrival
    started: float  # time.perf_counter() at arrival, for the latency
    # The role of the version the caller named (``/versions/{v}/infer``): no split then.
    role: Role | None = None
    # The answer's guards, when the endpoint has guards (None: it has none).
    guard: AnswerGuard | None = None
    # 32 random hex digits, as uuid4().hex but without building a UUID on every request.
    request_id: str = field(default_factory=lambda: os.urandom(16).hex())


def forwarded_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    out = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in raw
        if k.decode("latin-1").lower() not in _REQUEST_DROP
    ]
    # Compression between the gateway and a replica costs CPU on both ends for nothing.
    out.append(("accept-encoding", "identity"))
    return out


def _response_headers(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in upstream.headers.items():
        key = name.lower()
        if key not in _RESPONSE_DROP:
            # A header sent twice becomes one, its values joined, as HTTP allows.
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


# What an upstream call may raise: a connection refused or broken, a bad answer, a timeout
# (aiohttp's own are ClientErrors too; asyncio's is the builtin TimeoutError), a bad URL.
UPSTREAM_ERRORS = (aiohttp.ClientError, TimeoutError)


class _Relayed(StreamingResponse):
    """An upstream's streamed answer relayed as it arrives (no buffering), watching an
    OpenAI stream for its usage. Booked exactly once: at its end, when the upstream breaks
    off, or when the caller leaves, even before the first byte."""

    def __init__(
        self,
        proxy: Proxy,
        request: Admitted,
        pick: Pick,
        upstream: aiohttp.ClientResponse,
        headers: dict[str, str],
    ) -> None:
        super().__init__(self._relay(), status_code=upstream.status, headers=headers)
        self._proxy = proxy
        self._request = request
        self._pick = pick
        self._upstream = upstream
        self._watch = records.StreamUsage() if request.openai else None
        self._status = upstream.status
        self._booked = False

    async def _relay(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._upstream.content.iter_any():
                if self._watch is not None:
                    self._watch.feed(chunk)
                yield chunk
        except UPSTREAM_ERRORS:
            # The caller already has the status line: all that is left is to end the body.
            self._status = 502
        finally:
            self._book()

    def _book(self) -> None:
        if not self._booked:
            self._booked = True
            usage = self._watch.usage if self._watch is not None else None
            self._proxy.book_stream(self._request, self._pick, self._status, usage)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._book()
            # Back to the pool when read to its end; closed when the caller left midway.
            self._upstream.release()


@dataclass
class _Attempt:
    pick: Pick
    delay_ms: float
    # The replicas (run ids) tried before this one for the same request, in order.
    tried_before: tuple[str, ...] = ()


class Proxy:
    def __init__(
        self,
        client: Callable[[], aiohttp.ClientSession],
        router: Router,
        limits: Limits,
        counts: Counts,
        metrics: GatewayMetrics,
        log: LogWriter,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._client = client
        self._router = router
        self._limits = limits
        self._counts = counts
        self._metrics = metrics
        self._log = log
        self._clock = clock
        self._rng = rng
        # Shadow copies and quota charges in flight, held so they are not collected.
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, request: Admitted) -> Response:
        traffic = request.route.spec.traffic
        role = request.role or Role.PRIMARY
        if request.role is None and traffic.canary is not None and traffic.canary_weight > 0:
            role = split(traffic, self._rng.random())
        if (
            request.role is None
            and request.invocation
            and traffic.shadow is not None
            and traffic.shadow_weight > 0
            and shadowed(traffic, self._rng.random())
        ):
            self.in_background(self._shadow(request))
        tried: list[str] = []
        failures: list[str] = []
        while True:
            now = self._clock()
            pick = self._router.pick(
                request.route, request.region, role, now, self._rng, frozenset(tried)
            )
            if pick is None and role is Role.CANARY and request.role is None:
                # No canary replica to take it: the primary serves rather than nobody.
                role = Role.PRIMARY
                pick = self._router.pick(
                    request.route, request.region, role, now, self._rng, frozenset(tried)
                )
            if pick is None:
                return self._unavailable(request, role, failures)
            attempt = _Attempt(pick, await self._emulate(request, pick), tuple(tried))
            tried.append(pick.replica.run_id)
            answer = await self._send(request, attempt)
            if isinstance(answer, Response):
                return answer
            failures.append(answer)
            if not self._router.may_retry(self._clock()):
                return self._failed(request, pick, failures)
            self._metrics.retries.inc()

    async def _emulate(self, request: Admitted, pick: Pick) -> float:
        """An emulated site's declared delay to the caller's region, slept here."""
        site = request.route.sites.get(pick.site)
        if site is None or not site.emulated or request.region is None:
            return 0.0
        delay_ms = site.latency_ms.get(request.region)
        if not delay_ms or delay_ms <= 0:
            return 0.0
        await asyncio.sleep(delay_ms / 1000.0)
        return delay_ms

    async def _send(self, request: Admitted, attempt: _Attempt) -> Response | str:
        """The replica's answer as the caller's response, or why the attempt failed (a
        connection error, a timeout or a 502/503/504: then another replica may be tried)."""
        pick = attempt.pick
        replica = pick.replica
        name = request.route.spec.name
        self._router.started(pick, self._clock())
        self._metrics.site(name, pick.site).in_flight.inc()
        sent = time.perf_counter()
        try:
            upstream = await self._client().request(
                request.method,
                f"http://{replica.address}{request.path}",
                headers=[*request.headers, ("x-aiplane-request-id", request.request_id)],
                data=request.body,
            )
        except UPSTREAM_ERRORS as exc:
            self._attempt_failed(request, pick, sent, type(exc).__name__)
            return f"{replica.run_id} at {pick.site}: {type(exc).__name__}"
        if upstream.status in RETRYABLE:
            upstream.release()
            self._attempt_failed(request, pick, sent, f"http_{upstream.status}")
            return f"{replica.run_id} at {pick.site}: HTTP {upstream.status}"
        headers = _response_headers(upstream)
        headers.update(self._route_headers(request, attempt))
        if request.guard is not None:
            headers.update(request.guard.headers)
        if request.stream and (request.guard is None or not request.guard.gathers):
            return _Relayed(self, request, pick, upstream, headers)
        try:
            content = await upstream.read()
        except UPSTREAM_ERRORS as exc:
            self._attempt_failed(request, pick, sent, type(exc).__name__)
            return f"{replica.run_id} at {pick.site}: {type(exc).__name__} reading the answer"
        finally:
            upstream.release()
        parsed = records.parse(content) if request.invocation and not request.stream else None
        status = upstream.status
        refusal = None
        if request.guard is not None and request.invocation:
            # A stream here is one the answer's guards gathered whole (decision 0068).
            answered = request.guard.check(content, parsed, request.stream)
            content, parsed, refusal = answered.content, answered.logged, answered.refusal
            headers.update(answered.headers)
            status = status if refusal is None else 403
        usage = parsed.get("usage") if request.openai and isinstance(parsed, dict) else None
        await self._charge(request, self._done(request, pick, status, parsed, usage))
        if refusal is not None:
            guarded = {k: v for k, v in headers.items() if k.startswith("x-aiplane-")}
            return error(403, refusal, request.openai, guarded)
        return Response(content, status_code=status, headers=headers)

    def book_stream(self, request: Admitted, pick: Pick, status: int, usage: Any) -> None:
        """A relayed stream ended (or was abandoned before its first byte)."""
        prediction = {"usage": usage} if usage is not None else {}
        tokens = self._done(request, pick, status, prediction, usage, streamed=True)
        # The caller may have gone (the relay is then being cancelled): the charge runs as a
        # task of its own, so it is not cancelled with it.
        self.in_background(self._charge(request, tokens))

    def _route_headers(self, request: Admitted, attempt: _Attempt) -> dict[str, str]:
        pick = attempt.pick
        headers = {
            "x-aiplane-site": pick.site,
            "x-aiplane-replica": pick.replica.run_id,
            "x-aiplane-request-id": request.request_id,
        }
        if not pick.meets_slo:
            warning = pick.warning or "no site meets the endpoint's SLO"
            # Header values are latin-1 on the wire: anything else would fail the answer.
            headers["x-aiplane-warning"] = warning.encode("ascii", "replace").decode("ascii")
        if attempt.delay_ms:
            headers["x-aiplane-emulated-delay-ms"] = f"{attempt.delay_ms:g}"
        if attempt.tried_before:
            # Failover made visible: which replicas failed this request before this one.
            headers["x-aiplane-tried"] = ",".join(attempt.tried_before)
        return headers

    def _attempt_failed(self, request: Admitted, pick: Pick, sent: float, reason: str) -> None:
        name = request.route.spec.name
        latency_ms = (time.perf_counter() - sent) * 1000.0
        now = self._clock()
        self._router.finished(pick, False, latency_ms, now)
        self._metrics.site(name, pick.site).in_flight.dec()
        self._metrics.errors.labels(name, pick.site, reason).inc()

    def _done(
        self,
        request: Admitted,
        pick: Pick,
        status: int,
        parsed: Any,
        usage: Any,
        streamed: bool = False,
    ) -> int:
        """One answered attempt: the router, metrics, counts and the log. Returns
        the answer's tokens, which the caller charges to the key's quota (synchronous so
        that a stream cut off by its caller still books everything)."""
        name = request.route.spec.name
        now = self._clock()
        elapsed = time.perf_counter() - request.started
        latency_ms = elapsed * 1000.0
        ok = status < 500
        self._router.finished(pick, ok, latency_ms, now)
        series = self._metrics.site(name, pick.site)
        series.in_flight.dec()
        series.latency.observe(elapsed)
        self._metrics.answered(name, pick.site, status).inc()
        if not ok:
            self._metrics.errors.labels(name, pick.site, f"http_{status}").inc()
        if not request.invocation:
            return 0
        tokens_in, tokens_out = records.usage_tokens(usage)
        self._count(request, errors=0 if ok else 1, tokens_in=tokens_in, tokens_out=tokens_out)
        prediction = parsed if streamed else None
        self._log.put(
            self._record(request, pick, pick.replica.role, latency_ms, status, parsed, prediction)
        )
        return tokens_in + tokens_out if request.openai else 0

    def _record(
        self,
        request: Admitted,
        pick: Pick,
        role: Role,
        latency_ms: float,
        status: int,
        answer: Any,
        prediction: Any = None,
    ) -> InferenceRecord:
        if request.openai:
            features = records.openai_features(request.parsed)
            if prediction is None:
                prediction = records.openai_prediction(answer)
        else:
            features = records.oip_features(request.parsed)
            prediction = records.oip_prediction(answer)
        return InferenceRecord(
            request_id=request.request_id,
            endpoint=request.route.spec.name,
            version=pick.replica.version,
            role=role,
            site=pick.site,
            at=request.at,
            latency_ms=latency_ms,
            status=status,
            principal=request.caller.name,
            features=features,
            prediction=prediction,
        )

    async def _charge(self, request: Admitted, tokens: int) -> None:
        if not tokens:
            return
        limits = request.route.spec.limits
        try:
            await self._limits.charge_tokens(request.limit_key, limits, tokens, self._clock())
        except LimiterUnavailableError:
            # The answer is given; its tokens go uncounted against the quota (they are
            # still in the request counts the control plane gets).
            self._metrics.errors.labels(request.route.spec.name, "", "limiter_unavailable").inc()

    def _count(
        self, request: Admitted, errors: int, tokens_in: int = 0, tokens_out: int = 0
    ) -> None:
        spec = request.route.spec
        key = (
            spec.name,
            spec.team,
            request.caller.name,
            request.caller.token_id,
            hour_of(request.at),
        )
        self._counts.add(key, 1, errors, tokens_in, tokens_out)

    def _unavailable(self, request: Admitted, role: Role, failures: list[str]) -> Response:
        name = request.route.spec.name
        if failures:
            message = (
                f"endpoint {name}: no {role.value} replica left to try after "
                f"{len(failures)} failed attempt(s) ({'; '.join(failures)})"
            )
        else:
            message = (
                f"endpoint {name} has no ready {role.value} replica (or every one's circuit "
                "breaker is open)"
            )
        return self._refuse(request, 503, message, "no_replica")

    def _failed(self, request: Admitted, pick: Pick, failures: list[str]) -> Response:
        message = (
            f"endpoint {request.route.spec.name}: the replica failed and the retry budget is "
            f"spent ({'; '.join(failures)})"
        )
        return self._refuse(request, 502, message, "retry_budget", site=pick.site)

    def _refuse(
        self, request: Admitted, status: int, message: str, reason: str, site: str = ""
    ) -> Response:
        name = request.route.spec.name
        self._metrics.requests.labels(name, site, str(status)).inc()
        self._metrics.errors.labels(name, site, reason).inc()
        if request.invocation:
            self._count(request, errors=1)
        return error(status, message, request.openai)

    async def _shadow(self, request: Admitted) -> None:
        """A copy to a shadow replica; its answer is logged (role shadow) and dropped."""
        now = self._clock()
        pick = self._router.pick(request.route, request.region, Role.SHADOW, now, self._rng)
        if pick is None:
            return
        self._router.started(pick, now)
        started = time.perf_counter()
        status = 502
        parsed: Any = None
        content = b""
        try:
            async with self._client().request(
                request.method,
                f"http://{pick.replica.address}{request.path}",
                headers=request.headers,
                data=request.body,
            ) as upstream:
                content = await upstream.read()
                status = upstream.status
            parsed = records.parse(content)
        except UPSTREAM_ERRORS:
            pass
        latency_ms = (time.perf_counter() - started) * 1000.0
        ok = status < 500
        self._router.finished(pick, ok, latency_ms, self._clock())
        if request.guard is not None:
            parsed = request.guard.for_log(content, parsed)
        self._log.put(self._record(request, pick, Role.SHADOW, latency_ms, status, parsed))

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the shadow copies and quota charges still running (at stop)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
