"""The unit-of-work contract (memory, SQLite, PostgreSQL): all of a unit's writes or none."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.auth import TeamRole
from aiplane.core.cost.alerts import AlertStatus
from aiplane.core.errors import ConflictError, StoreError
from aiplane.core.runs import Run, RunState
from aiplane.store.base import Store

from . import factories as f
from .conftest import Member


class HalfWayError(Exception):
    pass


def _seed(store: Store) -> None:
    """Something of every aggregate, for a failed unit to leave as it was."""
    store.principals.add(f.principal(1))
    store.tokens.add(f.token(1))
    store.audit.append(f.sealer(f.audit_record(1)))
    store.fleets.put({"sites": ["a"]}, f.T0)
    store.jobs.add(*f.job_and_run(1))
    store.events.add(f.event(1))
    store.usage.add(f.usage_interval(1))
    store.alerts.add(f.cost_alert(1))


def _contents(store: Store) -> dict[str, Any]:
    return {
        "principals": store.principals.listing(),
        "tokens": store.tokens.listing(),
        "audit": store.audit.entries(),
        "audit_head": store.audit.head(),
        "fleet": store.fleets.current(),
        "jobs": store.jobs.page(limit=100),
        "events": store.events.recent(limit=100),
        "usage": store.usage.overlapping(0, f.T0 * 2),
        "alerts": store.alerts.recent(limit=100),
    }


def _write_everything(uow: Any) -> None:
    """One write to every aggregate, and a compare-and-set on an existing run."""
    uow.principals.add(f.principal(2))
    uow.principals.update(replace(f.principal(1), teams={"vis": TeamRole.OWNER}))
    uow.tokens.add(f.token(2))
    uow.tokens.revoke(f.token(1).id, f.T0 + 3)
    uow.audit.append(f.sealer(f.audit_record(2)))
    uow.fleets.put({"sites": ["a", "b"]}, f.T0 + 1)
    uow.jobs.add(*f.job_and_run(2))
    run = uow.jobs.run_for_job(f.job_id(1))
    uow.jobs.update_run(run.transition(RunState.ADMITTED, f.T0 + 2), RunState.PENDING)
    uow.events.add(f.event(2))
    assert uow.usage.add(f.usage_interval(2)) is True
    assert uow.alerts.add(f.cost_alert(2)) is True
    uow.alerts.update(replace(f.cost_alert(1), status=AlertStatus.DELIVERED))


def test_a_unit_of_work_commits_every_aggregate_together(member: Member) -> None:
    store = member.open()
    _seed(store)

    with store.unit_of_work() as uow:
        _write_everything(uow)

    after = member.open() if member.durable else store  # committed means durable, too
    assert [p.name for p in after.principals.listing()] == ["user-1", "user-2"]
    assert after.principals.get(f.principal(1).id).teams == {"vis": TeamRole.OWNER}
    assert after.tokens.count() == 2
    assert after.tokens.get(f.token(1).id).revoked_at == f.T0 + 3
    assert [e.seq for e in after.audit.entries()] == [1, 2]
    head = after.audit.head()
    assert head is not None and head.seq == 2
    fleet = after.fleets.current()
    assert fleet is not None and dict(fleet.document) == {"sites": ["a", "b"]}
    assert [j.id for j, _ in after.jobs.page(limit=10)] == [f.job_id(2), f.job_id(1)]
    assert after.jobs.run_for_job(f.job_id(1)).state is RunState.ADMITTED
    assert [e.message for e in after.events.recent()] == ["event 1", "event 2"]
    assert len(after.usage.overlapping(0, f.T0 * 2)) == 2
    assert [a.status for a in after.alerts.recent()] == [
        AlertStatus.DELIVERED,
        AlertStatus.PENDING,
    ]


def test_a_unit_of_work_that_fails_half_way_leaves_nothing_behind(member: Member) -> None:
    store = member.open()
    _seed(store)
    before = _contents(store)

    def fail_half_way() -> None:
        with store.unit_of_work() as uow:
            _write_everything(uow)
            raise HalfWayError

    with pytest.raises(HalfWayError):
        fail_half_way()

    assert _contents(store) == before
    if member.durable:
        assert _contents(member.open()) == before
    # Nothing is left locked or half-open: the next unit commits as usual.
    with store.unit_of_work() as uow:
        uow.events.add(f.event(3))
    assert [e.message for e in store.events.recent()] == ["event 1", "event 3"]


def test_a_conflict_that_escapes_rolls_back_what_came_before_it(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)

    def add_twice() -> None:
        with store.unit_of_work() as uow:
            uow.events.add(f.event(1, job=job))
            uow.jobs.add(job, run)  # a duplicate

    with pytest.raises(ConflictError):
        add_twice()

    assert store.events.recent() == []


def test_a_unit_sees_its_own_writes_before_it_commits(store: Store) -> None:
    job, run = f.job_and_run(1)
    with store.unit_of_work() as uow:
        uow.jobs.add(job, run)
        admitted = uow.jobs.update_run(
            run.transition(RunState.ADMITTED, f.T0 + 1), RunState.PENDING
        )
        assert uow.jobs.get_run(run.id) == admitted
        assert uow.jobs.page(limit=5, states=[RunState.ADMITTED]) == [(job, admitted)]
        added = uow.events.add(f.event(1, job=job))
        assert uow.events.recent(job_id=job.id) == [added]


def test_a_unit_goes_on_after_conflicts_it_handles(store: Store) -> None:
    """A compare-and-set miss, a duplicate job or interval: the unit stays usable (on
    PostgreSQL a failed statement would otherwise abort the whole transaction)."""
    taken, run = f.job_and_run(1)
    store.jobs.add(taken, run)
    store.usage.add(f.usage_interval(1))
    fresh = f.job(2)

    with store.unit_of_work() as uow:
        with pytest.raises(ConflictError):
            uow.jobs.update_run(run.transition(RunState.ADMITTED, f.T0), RunState.RUNNING)
        with pytest.raises(ConflictError):
            uow.jobs.add(fresh, replace(run, job_id=fresh.id))  # the run id is taken
        assert uow.usage.add(f.usage_interval(1)) is False
        assert uow.alerts.add(f.cost_alert(1)) is True
        assert uow.alerts.add(f.cost_alert(1)) is False
        uow.events.add(f.event(1))

    assert [j.id for j, _ in store.jobs.page(limit=10)] == [taken.id]  # no half of job 2
    assert store.jobs.get_run(run.id) == run
    assert [e.message for e in store.events.recent()] == ["event 1"]
    assert len(store.alerts.recent()) == 1


def test_units_of_work_do_not_nest(store: Store) -> None:
    with store.unit_of_work() as uow:
        with pytest.raises(StoreError, match="do not nest"), store.unit_of_work():
            pass
        uow.events.add(f.event(1))
    assert len(store.events.recent()) == 1


def test_inside_a_unit_the_stores_own_repositories_are_refused(store: Store) -> None:
    def bypass_the_unit() -> None:
        with store.unit_of_work() as uow:
            uow.events.add(f.event(1))
            store.events.add(f.event(2))

    with pytest.raises(StoreError, match="use its repositories"):
        bypass_the_unit()
    assert store.events.recent() == []


def _race_in_units(store: Store, n: int, contenders: list[Run]) -> tuple[list[str], list[Any]]:
    """Each contender at once, in a unit of its own: read the run, log an event, move it."""
    barrier = threading.Barrier(len(contenders))
    won: list[str] = []
    lost: list[BaseException] = []

    def attempt(candidate: Run) -> None:
        barrier.wait()
        try:
            with store.unit_of_work() as uow:
                uow.jobs.get_run(candidate.id)  # read before write, as the services do
                uow.events.add(replace(f.event(n), message=candidate.reason or ""))
                uow.jobs.update_run(candidate, expected_state=RunState.PENDING)
            won.append(candidate.reason or "")
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            lost.append(exc)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return won, lost


def test_concurrent_units_settle_a_race_by_compare_and_set(store: Store) -> None:
    """The scheduler admits while a user cancels, each with its event: exactly one unit
    commits, the other raises ConflictError and leaves no event behind."""
    rounds = 8
    for n in range(rounds):
        store.jobs.add(*f.job_and_run(n))

    for n in range(rounds):
        run = store.jobs.run_for_job(f.job_id(n))
        contenders = [
            run.transition(RunState.ADMITTED, f.T0 + 10, "scheduler"),
            run.transition(RunState.CANCELLED, f.T0 + 10, "user"),
        ]

        won, lost = _race_in_units(store, n, contenders)

        assert len(won) == 1, (won, lost)
        assert len(lost) == 1 and isinstance(lost[0], ConflictError), lost
        assert store.jobs.get_run(run.id).reason == won[0]
    # One event per round: the loser's was rolled back with its unit.
    assert len(store.events.recent(limit=100)) == rounds


def test_units_on_several_threads_lose_nothing(store: Store) -> None:
    threads_n, per_thread = 6, 10
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        try:
            for i in range(per_thread):
                n = worker * 1000 + i
                job, run = f.job_and_run(n)
                with store.unit_of_work() as uow:
                    uow.jobs.add(job, run)
                    uow.jobs.update_run(
                        run.transition(RunState.ADMITTED, f.T0), expected_state=RunState.PENDING
                    )
                    uow.events.add(f.event(n, job=job))
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert len(store.jobs.runs_in_states([RunState.ADMITTED])) == threads_n * per_thread
    assert len({e.id for e in store.events.recent(limit=1000)}) == threads_n * per_thread
