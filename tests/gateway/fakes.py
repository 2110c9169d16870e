"""Test doubles for the gateway: the control plane's port, a rate limiter and an inference
log in memory (the real limiter and log members are tested by their own contract suites)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from aiplane.core.auth import Caller, Principal, PrincipalKind, TeamRole
from aiplane.core.serving.endpoints import EndpointSpec, Protocol, Role
from aiplane.core.serving.guard_hits import GuardHit
from aiplane.core.serving.inference import InferenceRecord
from aiplane.core.serving.routes import (
    EndpointRoute,
    ReplicaLoad,
    ReplicaRoute,
    RequestCount,
    RoutingTable,
    SiteRoute,
)
from aiplane.streams.base import Positioned


def caller(name: str, teams: dict[str, TeamRole] | None = None, token_id: str = "") -> Caller:
    principal = Principal(
        id=f"p-{name}",
        name=name,
        kind=PrincipalKind.USER,
        created_at=0.0,
        teams=teams if teams is not None else {},
    )
    return Caller(principal=principal, token_id=token_id or f"tok-{name}")


class FakeControl:
    """Tokens -> callers, a table the test sets, and what the gateway recorded and reported."""

    def __init__(self, table: RoutingTable | None = None) -> None:
        self._lock = threading.Lock()
        self.table_now = table or RoutingTable(endpoints={}, built_at=0.0)
        self.tokens: dict[str, Caller] = {}
        self.authentications: list[str] = []
        self.denials: list[tuple[str | None, str, str, float]] = []
        self.guard_hits: list[GuardHit] = []
        self.loads: list[ReplicaLoad] = []
        self.counts: list[RequestCount] = []
        self.reports = 0

    def table(self) -> RoutingTable:
        with self._lock:
            return self.table_now

    def set_table(self, table: RoutingTable) -> None:
        with self._lock:
            self.table_now = table

    def authenticate(self, token: str) -> Caller | None:
        with self._lock:
            self.authentications.append(token)
            return self.tokens.get(token)

    def record_denial(self, caller: Caller | None, endpoint: str, reason: str, at: float) -> None:
        with self._lock:
            self.denials.append((caller.name if caller else None, endpoint, reason, at))

    def record_guard_hits(self, hits: Sequence[GuardHit]) -> None:
        with self._lock:
            self.guard_hits.extend(hits)

    def report(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        with self._lock:
            self.loads.extend(loads)
            self.counts.extend(counts)
            self.reports += 1


class MemoryLimiter:
    """Token buckets and period counters in a dict, as the contract describes them."""

    def __init__(self) -> None:
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self.counters: dict[tuple[str, str], int] = {}

    async def take(self, key: str, rate_per_s: float, burst: int, now: float) -> float:
        tokens, at = self.buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + max(0.0, now - at) * rate_per_s)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate_per_s if rate_per_s > 0 else math.inf

    async def consume(self, key: str, period: str, amount: int, limit: int) -> int | None:
        total = self.counters.get((key, period), 0)
        if total + amount > limit:
            return None
        self.counters[(key, period)] = total + amount
        return total + amount

    async def close(self) -> None:
        return None


class MemoryLog:
    def __init__(self) -> None:
        self.records: list[InferenceRecord] = []
        self.batches = 0

    async def append(self, records: Sequence[InferenceRecord]) -> None:
        self.records.extend(records)
        self.batches += 1

    async def read(
        self, after: int = 0, limit: int = 1000, endpoint: str | None = None
    ) -> list[Positioned]:
        found = [
            Positioned(i + 1, r)
            for i, r in enumerate(self.records)
            if i + 1 > after and (endpoint is None or r.endpoint == endpoint)
        ]
        return found[:limit]

    async def close(self) -> None:
        return None


def replica(
    run_id: str,
    address: str,
    site: str = "edge",
    role: Role = Role.PRIMARY,
    version: str = "fraud@1",
    ready: bool = True,
    usd_per_hour: float = 1.0,
) -> ReplicaRoute:
    return ReplicaRoute(
        run_id=run_id,
        site=site,
        pool=f"{site}-pool",
        role=role,
        version=version,
        address=address,
        ready=ready,
        usd_per_hour=usd_per_hour,
    )


def route(
    spec: EndpointSpec,
    replicas: Sequence[ReplicaRoute],
    sites: Sequence[SiteRoute] = (),
) -> EndpointRoute:
    named = {s.name: s for s in sites}
    for r in replicas:
        named.setdefault(r.site, SiteRoute(name=r.site, kind="edge"))
    return EndpointRoute(spec=spec, generation=1, replicas=tuple(replicas), sites=named)


def table(*routes: EndpointRoute) -> RoutingTable:
    return RoutingTable(endpoints={r.spec.name: r for r in routes}, built_at=0.0)


def spec(name: str = "fraud", team: str = "ml", **fields: object) -> EndpointSpec:
    protocol = fields.pop("protocol", Protocol.OIP)
    model = fields.pop("model", "fraud@1")
    return EndpointSpec(name=name, team=team, protocol=protocol, model=model, **fields)  # type: ignore[arg-type]
