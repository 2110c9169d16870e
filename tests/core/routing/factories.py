"""Routes for the router's tests: an endpoint with replicas at sites of declared latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiplane.core.routing import Pick, Router
from aiplane.core.serving.endpoints import EndpointSpec, Role
from aiplane.core.serving.routes import EndpointRoute, ReplicaRoute, SiteRoute


def replica(
    run_id: str,
    site: str,
    *,
    usd_per_hour: float = 1.0,
    role: Role = Role.PRIMARY,
    ready: bool = True,
) -> ReplicaRoute:
    return ReplicaRoute(
        run_id=run_id,
        site=site,
        pool=f"{site}-pool",
        role=role,
        version="fraud@1",
        address=f"127.0.0.1:{9000 + len(run_id)}",
        ready=ready,
        usd_per_hour=usd_per_hour,
    )


def route(
    replicas: Sequence[ReplicaRoute],
    latency: Mapping[str, Mapping[str, float]],
    slo: Mapping[str, float] | None = None,
) -> EndpointRoute:
    """``latency``: site -> region -> declared ms; every site named there exists."""
    spec = EndpointSpec(name="fraud", team="research", latency_slo_ms=dict(slo or {}))
    sites = {name: SiteRoute(name, "edge", dict(regions)) for name, regions in latency.items()}
    return EndpointRoute(spec=spec, generation=1, replicas=tuple(replicas), sites=sites)


def serve(router: Router, pick: Pick, now: float, *, ok: bool = True, ms: float = 10.0) -> None:
    """One request to ``pick``, start to end at ``now``."""
    router.started(pick, now)
    router.finished(pick, ok, ms, now)


def fail(router: Router, pick: Pick, times: int, now: float) -> None:
    for _ in range(times):
        serve(router, pick, now, ok=False)
