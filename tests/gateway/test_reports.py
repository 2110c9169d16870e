from __future__ import annotations

import random

import pytest

from aiplane.core.routing import Router
from aiplane.core.serving.endpoints import Role
from aiplane.gateway.reports import Counts, Loads, hour_of
from tests.gateway.fakes import replica, route, spec


def test_loads_are_differences_of_the_routers_snapshots():
    router = Router()
    edge = route(spec(), [replica("r1", "127.0.0.1:1"), replica("r2", "127.0.0.1:2")])
    rng = random.Random(3)
    loads = Loads(now=0.0)
    first = router.pick(edge, None, Role.PRIMARY, 0.0, rng, frozenset({"r2"}))
    second = router.pick(edge, None, Role.PRIMARY, 5.0, rng, frozenset({"r2"}))
    assert first is not None and second is not None
    router.started(first, 0.0)
    router.started(second, 5.0)
    router.finished(first, True, 20.0, 10.0)  # 1 in flight 0-5, 2 in 5-10, 1 after
    replicas = {"r1": "fraud", "r2": "fraud"}
    taken = {load.run_id: load for load in loads.take(10.0, router.snapshot(10.0), replicas)}
    assert taken["r1"].in_flight == pytest.approx(1.5)
    assert (taken["r1"].requests, taken["r1"].errors, taken["r1"].p95_ms) == (1, 0, 20.0)
    assert (taken["r1"].window_s, taken["r1"].at, taken["r1"].endpoint) == (10.0, 10.0, "fraud")
    assert (taken["r2"].in_flight, taken["r2"].requests, taken["r2"].p95_ms) == (0.0, 0, None)
    # The request still in flight counts in the next window too; only the new finish counts.
    router.finished(second, False, 30.0, 12.0)
    (again,) = loads.take(20.0, router.snapshot(20.0), {"r1": "fraud"})
    assert again.in_flight == pytest.approx(2.0 / 10.0)
    assert (again.requests, again.errors) == (1, 1)
    # Nothing in the window: zero, and no p95.
    (idle,) = loads.take(30.0, router.snapshot(30.0), {"r1": "fraud"})
    assert (idle.in_flight, idle.requests, idle.errors, idle.p95_ms) == (0.0, 0, 0, None)


def test_counts_are_deltas_and_a_failed_report_puts_them_back():
    counts = Counts()
    key = ("fraud", "ml", "alice", "tok-1", hour_of(7300.0))
    assert key[4] == 7200.0
    counts.add(key)
    counts.add(key, errors=1, tokens_in=5, tokens_out=3)
    (taken,) = counts.take()
    assert (taken.requests, taken.errors, taken.tokens_in, taken.tokens_out) == (2, 1, 5, 3)
    assert counts.take() == []
    counts.restore([taken])
    counts.add(key)
    (again,) = counts.take()
    assert again.requests == 3
