"""The gateway alone with a fixed routing table, for the gateway benchmarks.

``python benchmarks/gateway_static.py CONFIG.json``: serves ``aiplane.gateway`` on the config's
port, with one token (``token``) standing for a member of the endpoint's team, the in-memory
rate limiter with a limit set (so every request takes a token from a bucket), and the local
inference log under ``log_dir`` (so every request is logged). The table comes from the config:
endpoints with their sites, replicas and guards (``{"injection": "flag", "pii": "redact"}``).
What is fixed here is only the control plane's side
(the table, the token check): the data path is the real one. With ``"probe": true`` the
table's readiness is a TCP connect to each replica, redone at most once a second, as the
endpoint service's table is (a dead replica leaves rotation within about a second).
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn

from aiplane.core.auth import Caller, Principal, PrincipalKind, TeamRole
from aiplane.core.guards.policy import GuardPolicy
from aiplane.core.guards.types import GuardAction
from aiplane.core.serving.endpoints import EndpointSpec, KeyLimits, Role, SiteReplicas
from aiplane.core.serving.guard_hits import GuardHit
from aiplane.core.serving.routes import (
    EndpointRoute,
    ReplicaLoad,
    ReplicaRoute,
    RequestCount,
    RoutingTable,
    SiteRoute,
)
from aiplane.gateway.app import create_gateway
from aiplane.gateway.settings import GatewaySettings
from aiplane.ratelimit.memory import MemoryRateLimiter
from aiplane.streams.local import LocalInferenceLog


class StaticControl:
    def __init__(self, config: dict[str, Any]) -> None:
        self.token = config["token"]
        team = config.get("team", "bench")
        self.caller = Caller(
            Principal(
                "p-bench",
                "bench-caller",
                PrincipalKind.SERVICE,
                0.0,
                teams={team: TeamRole.MEMBER},
            ),
            token_id="t-bench",  # noqa: S106 (an id, not a secret)
        )
        routes = {}
        for e in config["endpoints"]:
            sites = {
                s["name"]: SiteRoute(
                    s["name"],
                    s.get("kind", "cloud"),
                    s.get("latency_ms", {}),
                    s.get("emulated", False),
                )
                for s in e["sites"]
            }
            spec = EndpointSpec(
                name=e["name"],
                team=team,
                command="bench",
                sites=tuple(SiteReplicas(s, 1, 1) for s in sites),
                latency_slo_ms=e.get("latency_slo_ms", {}),
                limits=KeyLimits(requests_per_s=1e6, burst=1_000_000),
                guards=_guards(e.get("guards", {})),
            )
            replicas = tuple(
                ReplicaRoute(
                    r["run_id"],
                    r["site"],
                    "pool",
                    Role.PRIMARY,
                    "command",
                    r["address"],
                    True,
                    r.get("usd_per_hour", 1.0),
                )
                for r in e["replicas"]
            )
            routes[e["name"]] = EndpointRoute(spec, 1, replicas, sites)
        self._table = RoutingTable(routes, time.time())
        self.guard_hits = 0
        self._probe = bool(config.get("probe", False))

    def table(self) -> RoutingTable:
        if self._probe and time.time() - self._table.built_at >= 1.0:
            routes = {
                name: replace(
                    route,
                    replicas=tuple(replace(r, ready=_accepts(r.address)) for r in route.replicas),
                )
                for name, route in self._table.endpoints.items()
            }
            self._table = RoutingTable(routes, time.time())
        return self._table

    def authenticate(self, token: str) -> Caller | None:
        return self.caller if token == self.token else None

    def record_denial(self, caller: Caller | None, endpoint: str, reason: str, at: float) -> None:  # noqa: ARG002
        print(f"denied {endpoint}: {reason}", file=sys.stderr)

    def record_guard_hits(self, hits: Sequence[GuardHit]) -> None:
        self.guard_hits += len(hits)

    def report(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        pass


def _guards(config: dict[str, Any]) -> GuardPolicy:
    """``{"injection": "flag", "pii": "redact", ...}``: each guard's action."""

    def action(name: str) -> GuardAction | None:
        return GuardAction(config[name]) if name in config else None

    return GuardPolicy(
        injection=action("injection"),
        pii=action("pii"),
        pii_types=tuple(config.get("pii_types", ())),
        output_pii=action("output_pii"),
        canary=action("canary"),
    )


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return True
    except OSError:
        return False


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    log = LocalInferenceLog(Path(config["log_dir"]))
    gateway = create_gateway(StaticControl(config), MemoryRateLimiter(), log, GatewaySettings())
    uvicorn.run(
        gateway.app,
        host="127.0.0.1",
        port=config["port"],
        log_level="warning",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
