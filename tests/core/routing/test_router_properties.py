"""Invariants of the router's pick over random routes, breakers, measurements and exclusions."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.routing import BreakerState, Pick, Router
from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.routes import EndpointRoute, ReplicaRoute
from tests.core.routing.factories import replica, route

SITES = ("edge", "cloud-a", "cloud-b")
REGIONS = ("eu", "us")
FAILURES = 3  # the breaker's threshold in these tests
OPEN_S = 5.0


@dataclass(frozen=True)
class Case:
    route: EndpointRoute
    region: str | None
    failures: dict[str, int]  # run id -> consecutive failures at t=0
    measured: dict[tuple[str, str], float]  # (site, region) -> the steady latency measured
    exclude: frozenset[str]
    now: float
    seed: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    latency = {
        s: {g: float(draw(st.integers(1, 200))) for g in REGIONS if draw(st.booleans())}
        for s in SITES
    }
    n = draw(st.integers(1, 8))
    replicas = [
        replica(
            f"r{i}",
            draw(st.sampled_from(SITES)),
            usd_per_hour=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0])),
            role=draw(st.sampled_from([Role.PRIMARY, Role.CANARY])),
            ready=draw(st.booleans()),
        )
        for i in range(n)
    ]
    # Whole milliseconds measured, SLOs at half ones: no latency sits on an SLO's edge, where
    # the float rounding of a mean could tip it either way.
    slo = {g: draw(st.integers(5, 150)) + 0.5 for g in REGIONS if draw(st.booleans())}
    ids = [r.run_id for r in replicas]
    return Case(
        route=route(replicas, latency, slo),
        region=draw(st.sampled_from([None, *REGIONS])),
        failures={i: draw(st.integers(0, 5)) for i in ids},
        measured={
            (s, g): float(draw(st.integers(1, 200)))
            for s in SITES
            for g in REGIONS
            if draw(st.booleans())
        },
        exclude=frozenset(draw(st.sets(st.sampled_from(ids)))),
        now=draw(st.sampled_from([0.0, 1.0, 4.9, 5.0, 9.0])),
        seed=draw(st.integers(0, 2**16)),
    )


def prepared(case: Case) -> Router:
    """A router that has seen the case's failures and measurements, all at t=0 (a request
    that starts and ends at once measures no throughput: cost is the price per hour)."""
    router = Router(breaker_failures=FAILURES, breaker_open_s=OPEN_S)
    by_id = {r.run_id: r for r in case.route.replicas}
    for run_id, count in case.failures.items():
        pick = _pick(by_id[run_id], None)
        for _ in range(count):
            router.started(pick, 0.0)
            router.finished(pick, False, 1.0, 0.0)
    for (site, region), ms in case.measured.items():
        # Measured through a replica of another endpoint: only the site's latency is shared.
        pick = _pick(replica(f"m-{site}", site), region)
        for _ in range(3):
            router.started(pick, 0.0)
            router.finished(pick, True, ms, 0.0)
    return router


def _pick(r: ReplicaRoute, region: str | None) -> Pick:
    return Pick(r, r.site, True, 0.0, None, "test", region)


def expected(case: Case, site: str) -> float:
    named = case.region in case.route.spec.latency_slo_ms or any(
        case.region in s.latency_ms for s in case.route.sites.values()
    )
    if case.region is None or not named:
        return math.inf  # filed as no region, where nothing was measured
    if (site, case.region) in case.measured:
        return case.measured[(site, case.region)]
    return case.route.sites[site].latency_ms.get(case.region, math.inf)


@settings(max_examples=300, deadline=None)
@given(case=cases(), role=st.sampled_from([Role.PRIMARY, Role.CANARY]))
def test_the_pick_is_a_candidate_and_the_site_follows_the_rules(case, role):
    router = prepared(case)
    breakers = {s.run_id: s.breaker for s in router.snapshot(case.now)}
    eligible = [
        r
        for r in case.route.replicas
        if r.role == role
        and r.ready
        and r.run_id not in case.exclude
        and breakers.get(r.run_id) is not BreakerState.OPEN
    ]
    pick = router.pick(
        case.route, case.region, role, case.now, random.Random(case.seed), case.exclude
    )
    if not eligible:
        assert pick is None
        return
    assert pick is not None
    chosen = pick.replica
    # Never an open breaker, a replica not ready, of another role, or already tried.
    assert chosen in eligible and chosen.site == pick.site
    assert (case.failures[chosen.run_id] < FAILURES) or case.now >= OPEN_S

    sites = {r.site for r in eligible}
    cheapest = {s: min(r.usd_per_hour for r in eligible if r.site == s) for s in sites}
    slo = case.route.spec.latency_slo_ms.get(case.region) if case.region else None
    meeting = {s for s in sites if slo is None or expected(case, s) <= slo}
    assert pick.expected_ms == pytest.approx(expected(case, pick.site))
    if meeting:
        assert pick.meets_slo and pick.warning is None
        assert pick.site in meeting
        assert cheapest[pick.site] == min(cheapest[s] for s in meeting)
    else:
        assert not pick.meets_slo and pick.warning is not None
        assert f"nearest: {pick.site}" in pick.warning
        assert pick.expected_ms == pytest.approx(min(expected(case, s) for s in sites))
    # Within the site, the cheaper of two: never a dearer replica when only two are there.
    at_site = [r for r in eligible if r.site == pick.site]
    if len(at_site) <= 2:
        assert chosen.usd_per_hour == min(r.usd_per_hour for r in at_site)
