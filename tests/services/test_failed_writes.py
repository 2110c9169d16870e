"""A write that fails surfaces as an error and takes the state change it belongs to with it.

The store is a real SQLite database whose usage table refuses inserts (a trigger), as a full
disk or a lost connection would: the use case raises, the run keeps its old state and no
event is logged, and once the database accepts writes again a retry does all of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.core.errors import StoreError
from aiplane.core.runs import RunState
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.scheduling.decisions import Decision, Preempt
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.services.metering import preemption_hook, record_usage
from aiplane.services.scheduling import run_cycle
from aiplane.store.sql import SqlStore
from tests.identities import ME
from tests.services.fleets import apply_fleet, job_service, stored_fleet

from .test_lifecycle import Plane
from .test_metering import FLEET, T0, start, submit

REFUSE = (
    "CREATE TRIGGER usage_refused BEFORE INSERT ON usage_intervals "
    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
)
ACCEPT = "DROP TRIGGER usage_refused"


class Database:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def refuse_usage(self) -> None:
        with self.store.engine.begin() as connection:
            connection.exec_driver_sql(REFUSE)

    def accept_usage(self) -> None:
        with self.store.engine.begin() as connection:
            connection.exec_driver_sql(ACCEPT)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = SqlStore.open(f"sqlite:///{tmp_path}/aiplane.db")
    try:
        yield Database(store)
    finally:
        store.close()


def _kinds(store: SqlStore, job_id: str) -> list[str]:
    return [e.kind for e in store.events.recent(job_id=job_id)]


def test_metering_raises_instead_of_dropping_usage(db: Database) -> None:
    store = db.store
    apply_fleet(store, FLEET, T0)
    job_id = submit(store)
    running = start(store, job_id, T0 + 60)
    fleet = stored_fleet(store)
    db.refuse_usage()
    with pytest.raises(StoreError, match="disk full"):
        record_usage(store, store.jobs.get(job_id), running, T0 + 600, outcome="ended", fleet=fleet)


def test_a_cancel_whose_usage_cannot_be_written_changes_nothing(db: Database) -> None:
    store = db.store
    apply_fleet(store, FLEET, T0)
    job_id = submit(store)
    start(store, job_id, T0 + 60)
    db.refuse_usage()

    with pytest.raises(StoreError, match="disk full"):
        job_service(store, T0 + 1860).cancel(ME, job_id)

    assert store.jobs.run_for_job(job_id).state is RunState.RUNNING
    assert _kinds(store, job_id) == ["job.submitted"]
    assert store.usage.overlapping(T0, T0 + 86400) == []

    db.accept_usage()
    # the retry does all of it
    view = job_service(store, T0 + 1900).cancel(ME, job_id)

    assert view.run.state is RunState.CANCELLED
    assert store.jobs.run_for_job(job_id).state is RunState.CANCELLED
    assert _kinds(store, job_id) == ["job.submitted", "run.state"]
    (u,) = store.usage.overlapping(T0, T0 + 86400)
    assert (u.outcome, u.start, u.end) == ("cancelled", T0 + 60, T0 + 1900)


class _PreemptOnce:
    name = "preempt-once"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def decide(self, _snapshot: Snapshot) -> list[Decision]:
        return [Preempt(self.run_id, "r-other", "make room")]


def test_a_preemption_whose_usage_cannot_be_written_changes_nothing(db: Database) -> None:
    store = db.store
    apply_fleet(store, FLEET, T0)
    fleet = stored_fleet(store)
    assert fleet is not None
    job_id = submit(store)
    running = start(store, job_id, T0 + 60)
    policy = _PreemptOnce(running.id)
    db.refuse_usage()

    with pytest.raises(StoreError, match="disk full"):
        run_cycle(store, fleet, policy, T0 + 600, on_run_stopped=preemption_hook(fleet))

    assert store.jobs.get_run(running.id) == running
    assert _kinds(store, job_id) == ["job.submitted"]

    db.accept_usage()
    result = run_cycle(store, fleet, policy, T0 + 700, on_run_stopped=preemption_hook(fleet))

    assert result.preempted == 1
    again = store.jobs.get_run(running.id)
    assert (again.state, again.attempt) == (RunState.PENDING, 2)
    assert _kinds(store, job_id) == ["job.submitted", "run.preempted"]
    (u,) = store.usage.overlapping(T0, T0 + 86400)
    assert (u.outcome, u.attempt, u.end) == ("preempted", 1, T0 + 700)


def test_a_finished_run_whose_usage_cannot_be_written_is_finished_by_the_next_pass(
    db: Database, tmp_path: Path
) -> None:
    plane = Plane(tmp_path, db.store)
    job_id = plane.submit(name="quick", run="true", resources={"cpus": 1})
    fleet = plane.cache.current()
    assert fleet is not None
    run_cycle(plane.store, fleet, PriorityBestFit(), time.time())
    assert plane.executor.launch_admitted(time.time()) == 1
    db.refuse_usage()

    deadline = time.monotonic() + 20
    # Until the replica has exited: then the run's end cannot be written, and says why.
    with pytest.raises(StoreError, match="disk full"):  # noqa: PT012 (a bounded poll loop)
        while time.monotonic() < deadline:
            plane.executor.reconcile(time.time())
            time.sleep(0.05)
    assert time.monotonic() < deadline, "the replica never exited"

    run = plane.store.jobs.run_for_job(job_id)
    assert run.state in (RunState.STARTING, RunState.RUNNING)
    assert not any("succeeded" in e.message for e in plane.store.events.recent(job_id=job_id))
    assert plane.store.usage.overlapping(0, time.time() + 1) == []

    db.accept_usage()
    assert plane.executor.reconcile(time.time()) == 1

    done = plane.store.jobs.run_for_job(job_id)
    assert done.state is RunState.SUCCEEDED
    (u,) = plane.store.usage.overlapping(0, time.time() + 1)
    assert (u.run_id, u.outcome) == (run.id, "succeeded")
    assert [e.message for e in plane.store.events.recent(job_id=job_id)][-1].endswith(
        "-> succeeded"
    )
