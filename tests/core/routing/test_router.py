"""The router's choice of site and replica: SLO, cost, failover, measured latency."""

from __future__ import annotations

import dataclasses
import random

import pytest

from aiplane.core.routing import BreakerState, Pick, Router
from aiplane.core.serving.endpoints import Role
from tests.core.routing.factories import fail, replica, route, serve

EU = "eu-west"
# The edge is near and dear, cloud-a far and cheap, cloud-b in between and dearest.
LATENCY = {
    "edge": {EU: 10.0, "us-east": 95.0},
    "cloud-a": {EU: 80.0, "us-east": 15.0},
    "cloud-b": {EU: 40.0},
}
REPLICAS = (
    replica("e1", "edge", usd_per_hour=2.0),
    replica("e2", "edge", usd_per_hour=2.0),
    replica("a1", "cloud-a", usd_per_hour=1.0),
    replica("b1", "cloud-b", usd_per_hour=3.0),
)


@pytest.mark.parametrize(
    ("region", "slo", "exclude", "site", "meets"),
    [
        # Only the edge meets 20 ms.
        (EU, {EU: 20.0}, (), "edge", True),
        # Edge and cloud-b meet 50 ms: the edge is cheaper.
        (EU, {EU: 50.0}, (), "edge", True),
        # All three meet 100 ms: cloud-a is the cheapest.
        (EU, {EU: 100.0}, (), "cloud-a", True),
        # The edge down: the next site that meets 50 ms, not the cheaper cloud-a that does not.
        (EU, {EU: 50.0}, ("e1", "e2"), "cloud-b", True),
        # The edge and cloud-b down: nothing meets 50 ms, cloud-a is the nearest left.
        (EU, {EU: 50.0}, ("e1", "e2", "b1"), "cloud-a", False),
        # Nothing meets 5 ms: the nearest, the edge.
        (EU, {EU: 5.0}, (), "edge", False),
        # cloud-b declares no latency to us-east: unknown is infinite, never the nearest.
        ("us-east", {"us-east": 5.0}, ("a1",), "edge", False),
        # No SLO for the region, or no region: the cheapest.
        ("us-east", {EU: 20.0}, (), "cloud-a", True),
        (None, {EU: 20.0}, (), "cloud-a", True),
    ],
)
def test_site_choice(region, slo, exclude, site, meets):
    r, rng = route(REPLICAS, LATENCY, slo), random.Random(1)
    pick = Router().pick(r, region, Role.PRIMARY, 0.0, rng, frozenset(exclude))
    assert pick is not None
    assert (pick.site, pick.meets_slo) == (site, meets)
    assert pick.replica.site == site
    assert pick.replica.run_id not in exclude
    assert pick.region == region
    assert (pick.warning is None) == meets
    assert f"site {site}" in pick.reason


def test_nearest_has_a_warning_that_names_slo_region_and_site():
    pick = Router().pick(
        route(REPLICAS, LATENCY, {EU: 5.0}), EU, Role.PRIMARY, 0.0, random.Random(1)
    )
    assert pick is not None
    assert (
        pick.warning == "no site meets the 5 ms p95 SLO for eu-west; nearest: edge (10 ms expected)"
    )
    assert pick.expected_ms == 10.0


def test_no_candidate_left_is_none():
    r = route(REPLICAS, LATENCY, {EU: 50.0})
    everyone = frozenset(x.run_id for x in REPLICAS)
    assert Router().pick(r, EU, Role.PRIMARY, 0.0, random.Random(1), everyone) is None
    # No canary replicas at all.
    assert Router().pick(r, EU, Role.CANARY, 0.0, random.Random(1)) is None


def test_role_and_readiness_filter_candidates():
    replicas = (
        replica("e1", "edge", ready=False),
        replica("e2", "edge", role=Role.CANARY),
        replica("a1", "cloud-a"),
    )
    r = route(replicas, LATENCY, {EU: 50.0})
    primary = Router().pick(r, EU, Role.PRIMARY, 0.0, random.Random(1))
    canary = Router().pick(r, EU, Role.CANARY, 0.0, random.Random(1))
    assert primary is not None and primary.replica.run_id == "a1" and not primary.meets_slo
    assert canary is not None and canary.replica.run_id == "e2" and canary.meets_slo


def test_a_refused_replica_is_no_candidate():
    """Its model version is refused by the control plane (decision 0069): the next site
    serves, though it misses the SLO; with nothing else left, no pick."""
    refused = dataclasses.replace(replica("e1", "edge"), refused="fraud@1: bad signature")
    r = route((refused, replica("a1", "cloud-a")), LATENCY, {EU: 50.0})
    pick = Router().pick(r, EU, Role.PRIMARY, 0.0, random.Random(1))
    assert pick is not None and pick.replica.run_id == "a1"
    assert (
        Router().pick(
            route((refused,), LATENCY, {EU: 50.0}), EU, Role.PRIMARY, 0.0, random.Random(1)
        )
        is None
    )


def test_an_open_breaker_fails_traffic_over_to_the_next_site_that_meets_the_slo():
    router, rng = Router(breaker_failures=3, breaker_open_s=5.0), random.Random(2)
    r = route(REPLICAS, LATENCY, {EU: 50.0})
    for run_id in ("e1", "e2"):
        pick = router.pick(r, EU, Role.PRIMARY, 0.0, rng, frozenset(all_but(run_id)))
        assert pick is not None and pick.replica.run_id == run_id
        fail(router, pick, 3, 0.0)
    for _ in range(20):
        pick = router.pick(r, EU, Role.PRIMARY, 1.0, rng)
        assert pick is not None and pick.site == "cloud-b" and pick.meets_slo
    states = {s.run_id: s for s in router.snapshot(1.0)}
    assert states["e1"].breaker is BreakerState.OPEN and states["e1"].errors == 3


def all_but(run_id: str) -> set[str]:
    return {x.run_id for x in REPLICAS} - {run_id}


def test_measured_latency_overrides_the_declared_one_per_region():
    router, rng = Router(), random.Random(3)
    r = route(REPLICAS, LATENCY, {EU: 50.0, "us-east": 100.0})
    pick = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert pick is not None and pick.site == "edge"
    for _ in range(50):  # the edge turns out slow from eu-west
        serve(router, pick, 0.0, ms=120.0)
    moved = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert moved is not None and moved.site == "cloud-b" and moved.expected_ms == 40.0
    # From us-east nothing was measured: both edge (95 declared) and cloud-a meet 100 ms.
    us = router.pick(r, "us-east", Role.PRIMARY, 0.0, rng)
    assert us is not None and us.site == "cloud-a"
    slow = router.pick(r, EU, Role.PRIMARY, 0.0, rng, frozenset({"b1"}))
    assert slow is not None and slow.site == "cloud-a"  # 80 declared beats 120 measured
    assert slow.warning is not None and "nearest: cloud-a (80 ms expected)" in slow.warning


def test_a_measurement_fades_back_to_the_declared_latency():
    router, rng = Router(latency_halflife_s=30.0), random.Random(4)
    r = route(REPLICAS, LATENCY, {EU: 50.0})
    pick = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert pick is not None
    for _ in range(8):
        serve(router, pick, 0.0, ms=120.0)
    # 8 requests' worth falls under half a request after 4 half-lives (8 / 16).
    still = router.pick(r, EU, Role.PRIMARY, 119.0, rng)
    back = router.pick(r, EU, Role.PRIMARY, 121.0, rng)
    assert still is not None and still.site == "cloud-b"
    assert back is not None and back.site == "edge" and back.expected_ms == 10.0


def test_failures_are_not_measured_as_latency():
    router, rng = Router(breaker_failures=100), random.Random(5)
    r = route(REPLICAS, LATENCY, {EU: 50.0})
    pick = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert pick is not None
    for _ in range(10):
        router.started(pick, 0.0)
        router.finished(pick, False, 500.0, 0.0)
    again = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert again is not None and again.site == "edge" and again.expected_ms == 10.0


def _load(router: Router, edge: Pick, cloud: Pick, t: float) -> float:
    """Five seconds in which the edge answered ten at a time (10/s) and cloud-a one (1/s)."""
    for _ in range(5):
        for _ in range(10):
            router.started(edge, t)
        for _ in range(10):
            router.finished(edge, True, 1000.0, t + 1.0)
        router.started(cloud, t)
        router.finished(cloud, True, 1000.0, t + 1.0)
        t += 1.0
    return t


def test_the_site_is_chosen_by_price_not_by_the_throughput_its_traffic_made():
    # The edge answered ten at a time, so its measured cost per request is lower; but it was
    # sent more, not cheaper: a site chosen by measured cost would keep drawing traffic to
    # whichever site had it. cloud-a costs half as much per hour and keeps winning.
    replicas = (replica("e1", "edge", usd_per_hour=2.0), replica("a1", "cloud-a", usd_per_hour=1.0))
    r = route(replicas, {"edge": {EU: 10.0}, "cloud-a": {EU: 20.0}}, {EU: 2000.0})
    router, rng = Router(), random.Random(6)
    cloud = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert cloud is not None and cloud.site == "cloud-a"
    edge = router.pick(r, EU, Role.PRIMARY, 0.0, rng, frozenset({"a1"}))
    assert edge is not None
    t = _load(router, edge, cloud, 0.0)
    states = {s.run_id: s for s in router.snapshot(t)}
    assert states["e1"].throughput_per_s == pytest.approx(10.0)
    assert states["a1"].throughput_per_s == pytest.approx(1.0)
    after = router.pick(r, EU, Role.PRIMARY, t, rng)
    assert after is not None and after.site == "cloud-a" and after.meets_slo


def test_cost_per_request_breaks_a_tie_in_price():
    replicas = (replica("e1", "edge", usd_per_hour=2.0), replica("a1", "cloud-a", usd_per_hour=2.0))
    r = route(replicas, {"edge": {EU: 20.0}, "cloud-a": {EU: 10.0}}, {EU: 2000.0})
    router, rng = Router(), random.Random(6)
    cloud = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert cloud is not None and cloud.site == "cloud-a"  # equal prices: the nearer
    edge = router.pick(r, EU, Role.PRIMARY, 0.0, rng, frozenset({"a1"}))
    assert edge is not None
    t = _load(router, edge, cloud, 0.0)
    after = router.pick(r, EU, Role.PRIMARY, t, rng)
    assert after is not None and after.site == "edge"
    # $2/h at 10/s: $0.0556 per 1,000 requests.
    assert "$2/h, $0.05556 per 1k requests" in after.reason


def test_two_choices_prefers_fewer_in_flight_then_the_cheaper():
    replicas = (
        replica("e1", "edge", usd_per_hour=2.0),
        replica("e2", "edge", usd_per_hour=1.0),
    )
    r = route(replicas, {"edge": {EU: 10.0}})
    router, rng = Router(), random.Random(7)
    # Same in flight: the cheaper one, every time.
    assert {router.pick(r, EU, Role.PRIMARY, 0.0, rng).replica.run_id for _ in range(50)} == {"e2"}  # type: ignore[union-attr]
    busy = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
    assert busy is not None
    router.started(busy, 0.0)
    assert router.in_flight("e2") == 1
    picks = [router.pick(r, EU, Role.PRIMARY, 0.0, rng) for _ in range(50)]
    assert {p.replica.run_id for p in picks if p is not None} == {"e1"}
    assert "0 in flight vs 1 at e2" in picks[0].reason  # type: ignore[union-attr]


def test_two_choices_spreads_load_over_equal_replicas():
    replicas = tuple(replica(f"e{i}", "edge") for i in range(4))
    r = route(replicas, {"edge": {EU: 10.0}})
    router, rng = Router(), random.Random(8)
    for _ in range(40):
        pick = router.pick(r, EU, Role.PRIMARY, 0.0, rng)
        assert pick is not None
        router.started(pick, 0.0)
    loads = sorted(router.in_flight(x.run_id) for x in replicas)
    assert sum(loads) == 40
    assert loads[-1] - loads[0] <= 2  # random choice would spread far wider


def test_snapshot_integrates_in_flight_and_counts_requests():
    r = route((replica("e1", "edge"),), {"edge": {EU: 10.0}})
    router = Router()
    pick = router.pick(r, EU, Role.PRIMARY, 0.0, random.Random(9))
    assert pick is not None
    router.started(pick, 0.0)
    router.started(pick, 1.0)
    router.finished(pick, True, 3000.0, 3.0)
    router.finished(pick, False, 3000.0, 4.0)
    [state] = router.snapshot(10.0)
    assert state.in_flight_s == pytest.approx(1.0 + 2 * 2.0 + 1.0)
    assert (state.requests, state.errors, state.in_flight) == (2, 1, 0)
    assert state.p95_ms == pytest.approx(3000.0)
    assert state.consecutive_failures == 1 and state.breaker is BreakerState.CLOSED
    router.forget(["other"])
    assert router.snapshot(10.0) == [] and router.in_flight("e1") == 0


def test_a_region_nobody_names_is_measured_as_no_region():
    router, rng = Router(), random.Random(10)
    r = route(REPLICAS, LATENCY, {EU: 50.0})
    pick = router.pick(r, "mars", Role.PRIMARY, 0.0, rng)
    assert pick is not None and pick.region is None and pick.site == "cloud-a"
    assert "no SLO for mars" in pick.reason
    for _ in range(5):
        serve(router, pick, 0.0, ms=300.0)
    # Filed under no region: a request without one now expects the measured 300 ms.
    again = router.pick(r, None, Role.PRIMARY, 0.0, rng, frozenset({"e1", "e2", "b1"}))
    assert again is not None and again.expected_ms == pytest.approx(300.0)
