"""A fake of the gateway's control port (``services.serving_ports.GatewayControl``), and a
services container that carries it, for tests of the gateway's control API and its client."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiplane.core.auth import Caller, Principal, PrincipalKind, TeamRole
from aiplane.core.serving.endpoints import EndpointSpec, Role, SiteReplicas
from aiplane.core.serving.guard_hits import GuardHit
from aiplane.core.serving.routes import (
    EndpointRoute,
    ReplicaLoad,
    ReplicaRoute,
    RequestCount,
    RoutingTable,
    SiteRoute,
)
from aiplane.services.container import Services
from aiplane.services.serving_ports import GatewayControl

KNOWN_TOKEN = "aip_known-caller"
KNOWN_CALLER = Caller(
    Principal("p-alice", "alice", PrincipalKind.USER, 1.0, teams={"risk": TeamRole.MEMBER}),
    token_id="tok-alice",
)


def sample_table(built_at: float = 1000.0) -> RoutingTable:
    spec = EndpointSpec("fraud", "risk", model="fraud@production", sites=(SiteReplicas("edge"),))
    replica = ReplicaRoute("r-1", "edge", "p", Role.PRIMARY, "fraud@3", "127.0.0.1:9", True)
    route = EndpointRoute(spec, 1, (replica,), {"edge": SiteRoute("edge", "edge", {"eu": 5.0})})
    return RoutingTable({"fraud": route}, built_at)


@dataclass
class FakeGatewayControl:
    """Answers from what a test sets; keeps what it is told."""

    current: RoutingTable = field(default_factory=sample_table)
    callers: dict[str, Caller] = field(default_factory=lambda: {KNOWN_TOKEN: KNOWN_CALLER})
    denials: list[tuple[Caller | None, str, str, float]] = field(default_factory=list)
    guard_hits: list[GuardHit] = field(default_factory=list)
    loads: list[ReplicaLoad] = field(default_factory=list)
    counts: list[RequestCount] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    tables: int = 0

    def table(self) -> RoutingTable:
        self.tables += 1
        return self.current

    def authenticate(self, token: str) -> Caller | None:
        self.asked.append(token)
        return self.callers.get(token)

    def record_denial(self, caller: Caller | None, endpoint: str, reason: str, at: float) -> None:
        self.denials.append((caller, endpoint, reason, at))

    def record_guard_hits(self, hits: Sequence[GuardHit]) -> None:
        self.guard_hits.extend(hits)

    def report(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        self.loads.extend(loads)
        self.counts.extend(counts)


def with_gateway(services: Services, control: GatewayControl) -> Services:
    """``services`` with ``control`` as its ``gateway``."""
    return dataclasses.replace(services, gateway=control)
