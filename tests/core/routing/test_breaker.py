"""The circuit breaker: consecutive failures open it, a trial after the pause decides."""

from __future__ import annotations

import random

from aiplane.core.routing import BreakerState, Router
from aiplane.core.routing.breaker import Breaker
from aiplane.core.serving.endpoints import Role
from tests.core.routing.factories import fail, replica, route, serve


def test_consecutive_failures_open_it_and_a_success_resets_the_count():
    b = Breaker(failures=3, open_s=5.0)
    for _ in range(2):
        b.finished(False, 0.0)
    b.finished(True, 0.0)
    b.finished(False, 0.0)
    b.finished(False, 0.0)
    assert b.state(0.0) is BreakerState.CLOSED and b.allows(0.0)
    b.finished(False, 1.0)
    assert b.state(1.0) is BreakerState.OPEN and not b.allows(5.9)


def test_half_open_lets_one_trial_through_and_its_success_closes():
    b = Breaker(failures=1, open_s=5.0)
    b.finished(False, 0.0)
    assert b.state(5.0) is BreakerState.HALF_OPEN and b.allows(5.0)
    b.started(5.0)
    assert not b.allows(5.1)  # the trial is in flight
    b.finished(True, 5.2)
    assert b.state(5.2) is BreakerState.CLOSED and b.allows(5.2)


def test_a_failed_trial_opens_it_again_for_the_whole_pause():
    b = Breaker(failures=1, open_s=5.0)
    b.finished(False, 0.0)
    b.started(6.0)
    b.finished(False, 6.5)
    assert b.state(11.4) is BreakerState.OPEN
    assert b.state(11.5) is BreakerState.HALF_OPEN and b.allows(11.5)


def test_a_success_while_open_does_not_close_it():
    b = Breaker(failures=1, open_s=5.0)
    b.finished(False, 0.0)
    b.finished(True, 1.0)  # a request sent before it opened
    assert b.state(1.0) is BreakerState.OPEN


def test_the_router_skips_an_open_replica_and_tries_it_again_after_the_pause():
    replicas = (replica("e1", "edge"), replica("e2", "edge", usd_per_hour=5.0))
    r = route(replicas, {"edge": {"eu": 10.0}})
    router, rng = Router(breaker_failures=2, breaker_open_s=5.0), random.Random(1)
    first = router.pick(r, "eu", Role.PRIMARY, 0.0, rng)
    assert first is not None and first.replica.run_id == "e1"  # the cheaper
    fail(router, first, 2, 0.0)
    during = [router.pick(r, "eu", Role.PRIMARY, t / 10, rng) for t in range(50)]
    assert {p.replica.run_id for p in during if p is not None} == {"e2"}
    trial = router.pick(r, "eu", Role.PRIMARY, 5.0, rng)
    assert trial is not None and trial.replica.run_id == "e1"
    router.started(trial, 5.0)
    # While the trial runs, e1 takes nothing else.
    other = router.pick(r, "eu", Role.PRIMARY, 5.0, rng)
    assert other is not None and other.replica.run_id == "e2"
    router.finished(trial, True, 10.0, 5.1)
    serve(router, trial, 5.2)
    back = router.pick(r, "eu", Role.PRIMARY, 5.3, rng)
    assert back is not None and back.replica.run_id == "e1"
    assert router.pick(r, "eu", Role.PRIMARY, 5.3, rng, frozenset({"e2"})) is not None
