"""The gateway's control port over HTTP: what ``aiplane gateway`` routes from when it runs
apart from the control plane.

:class:`RemoteControl` has the shape of ``services.serving_ports.GatewayControl`` (a
protocol: nothing of ``services`` is imported here). It is built for a control plane that may
be away for a while: the data path goes on with what it last knew.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from aiplane.client._errors import ApiError
from aiplane.client._http import Http
from aiplane.core.auth import Caller
from aiplane.core.serving.guard_hits import GuardHit
from aiplane.core.serving.routes import ReplicaLoad, RequestCount, RoutingTable
from aiplane.discovery import UnreachableError
from aiplane.wire.serving import (
    CallerOut,
    DenialIn,
    GuardHitIn,
    GuardHitsIn,
    ReplicaLoadIn,
    ReportIn,
    RequestCountIn,
    table_from_wire,
)

log = logging.getLogger("aiplane.gateway.control")

_Failure = (UnreachableError, ApiError, ValidationError)
MAX_GUARD_HITS_PER_CALL = 1000
_LoadKey = tuple[str, str]
_CountKey = tuple[str, str, str, str | None, float]


class RemoteControl:
    """The control plane at ``url``, as the holder of ``token`` (a principal allowed
    ``gateway.control``: an operator's service account).

    - ``table()`` is the last table fetched, refetched at most every ``refresh_s`` (by the
      thread :meth:`start` runs, else by the call that finds it stale). While the control plane
      cannot be reached the last table stays in force, said once in the log, and the fetch is
      retried every ``refresh_s``; before any fetch succeeds the table is empty.
    - ``authenticate()`` keeps each answer ``auth_ttl_s``; while the control plane is away an
      older answer is used up to ``stale_auth_s``, then the token is refused (a revoked token
      works no longer than that). Tokens are kept only as their sha256.
    - ``record_denial()``, ``record_guard_hits()`` and ``report()`` send at once; what could
      not be sent is kept (loads the newest per replica, counts summed per key, each at most
      ``max_pending``) and sent with the next call or tick.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        refresh_s: float = 1.0,
        auth_ttl_s: float = 5.0,
        stale_auth_s: float = 300.0,
        timeout_s: float = 5.0,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = Http(url, token, timeout_s, transport)
        self.url = self._http.url
        self.refresh_s = refresh_s
        self.auth_ttl_s = auth_ttl_s
        self.stale_auth_s = stale_auth_s
        self.max_pending = max_pending
        self._clock = clock
        self._table = RoutingTable({}, 0.0)
        self._fetched_at: float | None = None  # the last try, successful or not
        self._fetching = threading.Lock()
        self._lock = threading.Lock()
        self._callers: OrderedDict[str, tuple[Caller | None, float]] = OrderedDict()
        self._loads: dict[_LoadKey, ReplicaLoad] = {}
        self._counts: dict[_CountKey, RequestCount] = {}
        self._denials: list[dict[str, Any]] = []
        self._guard_hits: list[GuardHit] = []
        self._sending = threading.Lock()
        self._down: str | None = None  # why the control plane is away; None while it answers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the routing table -------------------------------------------------------------

    def table(self) -> RoutingTable:
        if self._thread is None:
            fetched = self._fetched_at
            if fetched is None or self._clock() - fetched >= self.refresh_s:
                self.refresh()
        return self._table

    def refresh(self) -> bool:
        """Fetch the table now (unless another thread is at it); whether it was fetched."""
        if not self._fetching.acquire(blocking=False):
            return False
        try:
            self._fetched_at = self._clock()
            try:
                # The table is the core's dataclasses, not a wire model: decoded here.
                response = self._http._send("GET", "/gateway/table", None, None)
                self._table = table_from_wire(response.content)
            except _Failure as exc:
                self._failed(exc)
                return False
            self._answered()
            return True
        finally:
            self._fetching.release()

    @property
    def down(self) -> str | None:
        """Why the control plane was last found away; None while it answers."""
        return self._down

    # -- callers -----------------------------------------------------------------------

    def authenticate(self, token: str) -> Caller | None:
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        now = self._clock()
        with self._lock:
            cached = self._callers.get(key)
        if cached is not None and now - cached[1] < self.auth_ttl_s:
            return cached[0]
        try:
            answer = self._http.call(
                CallerOut, "POST", "/gateway/authenticate", body={"token": token}
            )
            found: Caller | None = answer.caller
        except ApiError as exc:
            if exc.status != 401:
                return self._stale(cached, now, exc)
            found = None  # unknown, revoked or expired: refused, and remembered as such
        except (UnreachableError, ValidationError) as exc:
            return self._stale(cached, now, exc)
        self._answered()
        with self._lock:
            self._callers[key] = (found, now)
            self._callers.move_to_end(key)
            while len(self._callers) > self.max_pending:
                self._callers.popitem(last=False)
        return found

    def _stale(
        self, cached: tuple[Caller | None, float] | None, now: float, exc: Exception
    ) -> Caller | None:
        self._failed(exc)
        if cached is not None and now - cached[1] < self.stale_auth_s:
            return cached[0]
        return None

    # -- what the gateway tells ----------------------------------------------------------

    def record_denial(self, caller: Caller | None, endpoint: str, reason: str, at: float) -> None:
        body = DenialIn(caller=caller, endpoint=endpoint, reason=reason, at=at)
        with self._lock:
            self._denials.append(body.model_dump(mode="json"))
            if len(self._denials) > self.max_pending:
                del self._denials[0]
                log.warning("more than %d denials unsent: the oldest dropped", self.max_pending)
        self.flush()

    def record_guard_hits(self, hits: Sequence[GuardHit]) -> None:
        with self._lock:
            self._guard_hits.extend(hits)
            over = len(self._guard_hits) - self.max_pending
            if over > 0:
                del self._guard_hits[:over]
                log.warning("more than %d guard hits unsent: the oldest dropped", self.max_pending)
        self.flush()

    def report(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        with self._lock:
            self._merge(loads, counts)
        self.flush()

    def _merge(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        for load in loads:
            key = (load.endpoint, load.run_id)
            known = self._loads.get(key)
            if known is None or load.at >= known.at:
                self._loads[key] = load
        for count in counts:
            ckey = (count.endpoint, count.team, count.principal, count.token_id, count.hour)
            seen = self._counts.get(ckey)
            self._counts[ckey] = count if seen is None else _added(seen, count)
        # Bounded: the oldest first out (dicts keep their insertion order).
        while len(self._loads) > self.max_pending:
            del self._loads[next(iter(self._loads))]
        while len(self._counts) > self.max_pending:
            del self._counts[next(iter(self._counts))]

    def flush(self) -> bool:
        """Send what is pending (denials, then one report); whether all of it was sent."""
        with self._sending:
            while True:
                with self._lock:
                    if not self._denials:
                        break
                    denial = self._denials[0]
                try:
                    self._http.call_empty("POST", "/gateway/denials", body=denial)
                except _Failure as exc:
                    if not _refused_for_good(exc, "a denial"):
                        self._failed(exc)
                        return False
                with self._lock:
                    self._denials.pop(0)
            if not self._flush_guard_hits():
                return False
            with self._lock:
                loads, counts = list(self._loads.values()), list(self._counts.values())
                self._loads, self._counts = {}, {}
            if not loads and not counts:
                return True
            body = ReportIn(
                loads=[ReplicaLoadIn.of(x) for x in loads],
                counts=[RequestCountIn.of(x) for x in counts],
            )
            try:
                self._http.call_empty("POST", "/gateway/reports", body=body.model_dump(mode="json"))
            except _Failure as exc:
                if _refused_for_good(exc, "a report"):
                    return True
                self._failed(exc)
                with self._lock:
                    # Back under what came meanwhile: counts add up, loads keep the newest.
                    newer_loads, newer_counts = self._loads, self._counts
                    self._loads, self._counts = {}, {}
                    self._merge(loads, counts)
                    self._merge(list(newer_loads.values()), list(newer_counts.values()))
                return False
            self._answered()
            return True

    def _flush_guard_hits(self) -> bool:
        """Send the pending guard hits in one batch (under ``_sending``); whether sent."""
        with self._lock:
            hits = self._guard_hits[:MAX_GUARD_HITS_PER_CALL]
        if not hits:
            return True
        body = GuardHitsIn(hits=[GuardHitIn.of(h) for h in hits])
        try:
            self._http.call_empty("POST", "/gateway/guard-hits", body=body.model_dump(mode="json"))
        except _Failure as exc:
            if not _refused_for_good(exc, "guard hits"):
                self._failed(exc)
                return False
        with self._lock:
            del self._guard_hits[: len(hits)]
        return True

    # -- the refresh thread ----------------------------------------------------------------

    def start(self) -> None:
        """Refetch the table and send what is pending every ``refresh_s`` in a thread, so that
        no caller of ``table()`` waits on the network."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.refresh()
        self._thread = threading.Thread(
            target=self._tick, name="aiplane-gateway-control", daemon=True
        )
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.refresh()
            if self._down is None:
                self.flush()

    def close(self) -> None:
        """Stop the thread, try once more to send what is pending, close the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._down is None:
            self.flush()
        self._http.close()

    # -- the control plane's state ---------------------------------------------------------

    def _failed(self, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        if self._down is None:
            built = self._table.built_at
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(built))
            kept = f"keeping the routing table built at {when} UTC" if built else "no table yet"
            log.warning(
                "control plane at %s cannot be used (%s): %s; retrying every %g s",
                self.url,
                reason,
                kept,
                self.refresh_s,
            )
        self._down = reason

    def _answered(self) -> None:
        if self._down is not None:
            log.warning("control plane at %s answering again", self.url)
        self._down = None


def _added(a: RequestCount, b: RequestCount) -> RequestCount:
    return dataclasses.replace(
        a,
        requests=a.requests + b.requests,
        errors=a.errors + b.errors,
        tokens_in=a.tokens_in + b.tokens_in,
        tokens_out=a.tokens_out + b.tokens_out,
    )


# Refusals that a retry does not change: the body itself is wrong (another version's shape).
_RETRIED_STATUSES = frozenset({401, 403, 408, 429})


def _refused_for_good(exc: Exception, what: str) -> bool:
    """Whether the control plane refused ``what`` for what it is (then it is dropped, said
    in the log): a 4xx other than the credential's, a timeout's or a limit's."""
    if (
        isinstance(exc, ApiError)
        and 400 <= exc.status < 500
        and exc.status not in _RETRIED_STATUSES
    ):
        log.error("the control plane refused %s (%s): dropped", what, exc)
        return True
    return False
