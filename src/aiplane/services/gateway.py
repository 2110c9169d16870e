"""The gateway's port on the control plane, in process: :class:`GatewayService`.

``aiplane up`` gives the gateway this object (``services.gateway``); a gateway run alone gets
one that speaks to the API instead. The routing table is built from the endpoints, their live
replica runs (address and readiness from the backends) and the fleet's sites, at most once a
second however often the gateway asks. Each replica carries the model access guard's verdict
on the version it serves (``services.model_access``): the gateway routes to no refused one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from aiplane.core.auth import Caller
from aiplane.core.errors import AuthenticationError, NotFoundError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import RunState
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.serving.guard_hits import GuardHit
from aiplane.core.serving.routes import (
    EndpointRoute,
    ReplicaLoad,
    ReplicaRoute,
    RequestCount,
    RoutingTable,
    SiteRoute,
)
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.endpoint_replicas import Replica, owned, serving
from aiplane.services.endpoints import EndpointService, per_replica_usd
from aiplane.services.fleet import FleetCache
from aiplane.store.base import Store

INVOKE = "endpoint.invoke"  # the audit action of an invocation the gateway refused
GUARD = "endpoint.guard"  # the audit action of a guard's hit (blocked, redacted, flagged)
# The audit outcome of each guard action.
GUARD_OUTCOMES = {"block": "blocked", "redact": "redacted", "flag": "flagged"}


class GatewayService:
    """:class:`~aiplane.services.serving_ports.GatewayControl` over the store and backends."""

    def __init__(
        self,
        store: Store,
        endpoints: EndpointService,
        fleets: FleetCache,
        access: Access,
        audit: AuditLog,
        clock: Callable[[], float],
        *,
        ttl_s: float = 1.0,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._fleets = fleets
        self._access = access
        self._audit = audit
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, RoutingTable] | None = None  # (monotonic expiry, table)

    def table(self) -> RoutingTable:
        mono = time.monotonic()
        with self._lock:
            if self._cached is not None and self._cached[0] > mono:
                return self._cached[1]
            # Built under the lock: callers that ask meanwhile wait for this one table.
            table = self._build()
            self._cached = (mono + self._ttl_s, table)
            return table

    def _build(self) -> RoutingTable:
        fleet = self._fleets.current()
        replicas = self._endpoints.replicas()
        routes = {}
        for endpoint in self._store.endpoints.listing():
            mine = owned(endpoint, replicas.get(endpoint.name, []))
            routes[endpoint.name] = self._route(endpoint, mine, fleet)
        return RoutingTable(routes, self._clock())

    def _route(
        self, endpoint: Endpoint, replicas: list[Replica], fleet: Fleet | None
    ) -> EndpointRoute:
        out = []
        emulated: dict[str, bool] = {}
        refused = self._endpoints.refusals(endpoint, replicas)
        for replica in replicas:
            run = replica.run
            if run.state is not RunState.RUNNING or run.placement is None:
                continue
            # A drained replica is not ready: the backend's drain says so (the Serving
            # contract), so no read of the replica's events is needed here.
            address, ready = serving(self._endpoints.backends, run)
            if address is None:
                continue
            placement = run.placement
            emulated[replica.site] = emulated.get(replica.site, True) and placement.emulated
            out.append(
                ReplicaRoute(
                    run_id=run.id,
                    site=replica.site,
                    pool=placement.pool,
                    role=replica.role,
                    version=replica.version,
                    address=address,
                    ready=ready,
                    usd_per_hour=per_replica_usd(
                        placement.usd_per_hour, len(placement.assignments)
                    ),
                    refused=refused.get(run.id),
                )
            )
        names = [s.site for s in endpoint.spec.sites] + [r.site for r in out]
        sites = {}
        for name in dict.fromkeys(names):
            site = fleet.site(name) if fleet is not None else None
            if site is None:
                continue
            is_emulated = emulated.get(
                name, bool(site.pools) and all(p.emulated for p in site.pools)
            )
            sites[name] = SiteRoute(name, str(site.kind), dict(site.latency_ms), is_emulated)
        return EndpointRoute(endpoint.spec, endpoint.generation, tuple(out), sites)

    def authenticate(self, token: str) -> Caller | None:
        try:
            return self._access.authenticate(token)
        except AuthenticationError:
            return None  # audited by ``Access.authenticate``

    def record_denial(self, caller: Caller | None, endpoint: str, reason: str, at: float) -> None:
        try:
            team: str | None = self._store.endpoints.get(endpoint).team
        except NotFoundError:
            team = None
        self._audit.record_now(
            caller,
            INVOKE,
            f"endpoint/{endpoint}",
            outcome="denied",
            team=team,
            detail={"reason": reason, "at": at},
        )

    def record_guard_hits(self, hits: Sequence[GuardHit]) -> None:
        for hit in hits:
            self._audit.record_now(
                hit.caller,
                GUARD,
                f"endpoint/{hit.endpoint}",
                outcome=GUARD_OUTCOMES[str(hit.action)],
                team=hit.team,
                detail={
                    "guard": str(hit.guard),
                    "action": str(hit.action),
                    "stage": str(hit.stage),
                    "kinds": list(hit.kinds),
                    "count": hit.count,
                    "request_id": hit.request_id,
                    "at": hit.at,
                },
            )

    def report(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        if loads:
            self._endpoints.note_loads(loads)
        if counts:
            self._store.endpoints.add_counts(list(counts))
