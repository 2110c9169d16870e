"""Autoscaling decisions: in flight like the HPA, p95 a step at a time, down only after a while."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.errors import SpecError
from aiplane.core.serving.autoscale import desired
from aiplane.core.serving.endpoints import (
    AutoPlacement,
    Autoscale,
    EndpointSpec,
    ScaleMetric,
    SiteReplicas,
)
from aiplane.core.serving.routes import ReplicaLoad

NOW = 1_000.0


def spec(
    metric: ScaleMetric = ScaleMetric.IN_FLIGHT,
    target: float = 4.0,
    *,
    low: int = 1,
    high: int = 10,
    after: float = 60.0,
) -> EndpointSpec:
    return EndpointSpec(
        name="fraud",
        team="research",
        sites=(SiteReplicas("edge", low, high), SiteReplicas("cloud", 0, 2)),
        autoscale=Autoscale(metric, target, after),
    )


def load(
    run_id: str, in_flight: float = 0.0, p95: float | None = None, *, at: float = NOW, n: int = 10
) -> ReplicaLoad:
    requests = n if p95 is not None else 0
    return ReplicaLoad("fraud", run_id, at, 10.0, in_flight, requests, 0, p95)


def loads_in_flight(*values: float, at: float = NOW) -> list[ReplicaLoad]:
    return [load(f"r{i}", v, at=at) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("current", "in_flight", "replicas"),
    [
        (2, (8.0, 8.0), 4),  # 16 in flight / 4 per replica
        (2, (4.0, 4.0), 2),  # at the target
        (2, (4.3, 4.3), 2),  # 8.6 is within 10% of 8: no change
        (2, (4.5, 4.5), 3),  # 9 is not: ceil(9 / 4)
        (1, (100.0,), 10),  # the maximum
        (3, (12.0, 0.0, 0.0), 3),  # the total counts, not the busiest replica
    ],
)
def test_in_flight_scales_up_at_once(current, in_flight, replicas):
    scale = desired(spec(), "edge", current, loads_in_flight(*in_flight), NOW, None)
    assert scale.replicas == replicas
    assert scale.low_since is None


def test_the_reason_says_why_and_names_a_bound_that_held():
    scale = desired(spec(high=3), "edge", 2, loads_in_flight(20.0, 20.0), NOW, None)
    assert scale.replicas == 3
    assert scale.reason == (
        "40.0 in flight for a target of 4 per replica (held at the maximum of 3): up to 3"
    )


def test_in_flight_scales_down_only_after_the_load_stayed_low():
    s = spec(after=60.0)

    def quiet(at: float) -> list[ReplicaLoad]:
        return loads_in_flight(1.0, 1.0, 1.0, 1.0, at=at)  # 4 in flight: one replica would do

    first = desired(s, "edge", 4, quiet(NOW), NOW, None)
    assert (first.replicas, first.low_since) == (4, NOW)
    assert "down to 1 in 60 s if it stays low" in first.reason
    later = desired(s, "edge", 4, quiet(NOW + 59.0), NOW + 59.0, first.low_since)
    assert (later.replicas, later.low_since) == (4, NOW)
    done = desired(s, "edge", 4, quiet(NOW + 60.0), NOW + 60.0, later.low_since)
    assert (done.replicas, done.low_since) == (1, None)


def test_a_busy_spell_resets_the_wait():
    s = spec(after=60.0)
    first = desired(s, "edge", 4, loads_in_flight(1.0), NOW, None)
    busy_loads = loads_in_flight(4.0, 4.0, 4.0, 4.0, at=NOW + 30.0)
    busy = desired(s, "edge", 4, busy_loads, NOW + 30.0, first.low_since)
    assert (busy.replicas, busy.low_since) == (4, None)
    again = desired(s, "edge", 4, loads_in_flight(1.0, at=NOW + 70.0), NOW + 70.0, busy.low_since)
    assert (again.replicas, again.low_since) == (4, NOW + 70.0)


def test_never_under_the_minimum():
    s = spec(low=2, after=0.0)
    scale = desired(s, "edge", 3, loads_in_flight(0.0, 0.0, 0.0), NOW, None)
    assert scale.replicas == 2
    assert "held at the minimum of 2" in scale.reason


@pytest.mark.parametrize(
    ("current", "p95s", "replicas", "low_since"),
    [
        (2, (150.0, 150.0), 3, None),  # over the 100 ms target: one more
        (2, (80.0, 90.0), 2, None),  # within it
        (2, (40.0, 40.0), 2, NOW),  # under half: one fewer, after the wait
        (10, (500.0,), 10, None),  # the maximum
    ],
)
def test_p95_moves_one_at_a_time(current, p95s, replicas, low_since):
    loads = [load(f"r{i}", 1.0, p) for i, p in enumerate(p95s)]
    scale = desired(spec(ScaleMetric.P95_MS, 100.0), "edge", current, loads, NOW, None)
    assert (scale.replicas, scale.low_since) == (replicas, low_since)


def test_p95_is_weighted_by_requests():
    # One busy replica at 40 ms and a quiet one at 400: the site's requests mostly see 40.
    loads = [load("r0", 1.0, 40.0, n=990), load("r1", 1.0, 400.0, n=10)]
    scale = desired(spec(ScaleMetric.P95_MS, 100.0), "edge", 2, loads, NOW, NOW - 60.0)
    assert scale.replicas == 1
    assert "p95 44 ms under half the 100 ms target" in scale.reason


def test_p95_with_no_finished_request():
    s = spec(ScaleMetric.P95_MS, 100.0, after=0.0)
    idle = desired(s, "edge", 2, [load("r0", 0.0), load("r1", 0.0)], NOW, None)
    stuck = desired(s, "edge", 2, [load("r0", 3.0), load("r1", 0.0)], NOW, None)
    assert idle.replicas == 1
    assert stuck.replicas == 2 and "none finished" in stuck.reason


def test_stale_and_superseded_reports_do_not_count():
    old = load("r0", 100.0, at=NOW - 31.0)  # three 10 s windows ago and more: stale
    superseded = load("r1", 100.0, at=NOW - 10.0)
    newest = load("r1", 4.0, at=NOW)
    scale = desired(spec(), "edge", 1, [old, superseded, newest], NOW, None)
    assert scale.replicas == 1
    nothing = desired(spec(), "edge", 3, [old], NOW, NOW - 500.0)
    assert (nothing.replicas, nothing.low_since) == (3, None)
    assert nothing.reason == "no load reported: the count stays"


def test_bounds_from_the_site_or_placement_and_a_site_dropped():
    assert desired(spec(low=2), "edge", 1, [], NOW, None).replicas == 2
    assert desired(spec(high=3), "edge", 5, [], NOW, None).replicas == 3
    gone = desired(spec(), "fra", 2, loads_in_flight(9.0), NOW, None)
    assert gone.replicas == 0 and "no longer among the endpoint's sites" in gone.reason
    placed = EndpointSpec(
        name="fraud",
        team="research",
        placement=AutoPlacement(sites=2, min_replicas=1, max_replicas=3),
    )
    assert desired(placed, "anywhere", 1, loads_in_flight(40.0), NOW, None).replicas == 3


def test_a_target_of_zero_is_a_spec_error():
    with pytest.raises(SpecError) as error:
        desired(spec(target=0.0), "edge", 1, loads_in_flight(1.0), NOW, None)
    assert error.value.problems[0].location == "autoscale.target"


@given(
    current=st.integers(0, 12),
    in_flight=st.lists(st.floats(0.0, 100.0), max_size=6),
    metric=st.sampled_from(list(ScaleMetric)),
    low_since=st.one_of(st.none(), st.floats(0.0, NOW)),
)
def test_always_within_bounds_and_never_down_before_the_wait(current, in_flight, metric, low_since):
    s = spec(metric, 4.0 if metric is ScaleMetric.IN_FLIGHT else 100.0, low=1, high=6, after=60.0)
    loads = [load(f"r{i}", v, v * 10 if v else None) for i, v in enumerate(in_flight)]
    scale = desired(s, "edge", current, loads, NOW, low_since)
    assert 1 <= scale.replicas <= 6
    if 1 <= current <= 6 and scale.replicas < current:
        # A scale down comes only after a wait that started at least 60 s ago.
        assert low_since is not None and NOW - low_since >= 60.0
        assert scale.low_since is None
    if scale.low_since is not None:
        assert scale.replicas == current and scale.low_since <= NOW
