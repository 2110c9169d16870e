"""The live cycle holds a reclaimed run off borrowed quota, as the simulator does (fault (d)).

The live state is rebuilt from the store, which knows nothing of reclaims: the mark must
survive the run's re-read after its requeue and a full reload of the state.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from aiplane.backends.base import ReplicaReport, ReplicaStatus
from aiplane.core.fleet import Team
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.scheduling.engine import Engine
from aiplane.services.scheduling import LiveState, run_cycle
from aiplane.store.memory import MemoryStore
from tests.builders import fleet, pool, site, workload

H100 = "H100-80GB"
FLEET = fleet(
    site(pools=(pool(nodes=1),)),
    teams=(Team("a", cohort="ml", quota={H100: 8}), Team("b", cohort="ml", quota={H100: 0})),
)
T0 = 1_750_000_000.0


def _submit(store: MemoryStore, name: str, team: str, at: float) -> str:
    job = Job("j" + name, workload(name, team=team, estimated_hours=1.0), at, "me")
    store.jobs.add(job, Run(name, job.id, RunState.PENDING, at, at))
    return name


def _runs(store: MemoryStore, run_id: str, at: float) -> None:
    """The executor's part: the admitted run starts and runs."""
    run = store.jobs.get_run(run_id)
    assert run.state is RunState.ADMITTED, run
    starting = store.jobs.update_run(run.transition(RunState.STARTING, at), RunState.ADMITTED)
    store.jobs.update_run(starting.transition(RunState.RUNNING, at), RunState.STARTING)


def _succeeds(store: MemoryStore, run_id: str, at: float) -> None:
    run = store.jobs.get_run(run_id)
    store.jobs.update_run(run.transition(RunState.SUCCEEDED, at), RunState.RUNNING)


@pytest.mark.parametrize("resync_s", [1e9, 0.0], ids=["incremental", "reloaded"])
def test_a_reclaimed_run_waits_out_its_hold_while_the_lender_comes_and_goes(
    resync_s: float,
) -> None:
    store, engine = MemoryStore(), Engine()
    live = LiveState(resync_s=resync_s)

    def cycle(at: float) -> int:
        return run_cycle(store, FLEET, engine, at, state=live).preempted

    _submit(store, "b1", "b", T0)
    assert cycle(T0) == 0
    _runs(store, "b1", T0 + 1)
    preempted = 0
    for k in range(5):  # a's short jobs, one every 10 s: each finishes before the next
        at = T0 + 10 + 10 * k
        a = _submit(store, f"a{k}", "a", at)
        preempted += cycle(at)
        assert store.jobs.get_run(a).state is RunState.ADMITTED  # the lender at once
        _runs(store, a, at + 1)
        _succeeds(store, a, at + 5)
        assert cycle(at + 6) == 0
        b1 = store.jobs.get_run("b1")
        # Before the fix b1 went straight back onto the borrowed quota here, to be reclaimed
        # by a's next job: 5 preemptions in 50 s.
        assert b1.state is RunState.PENDING
        assert b1.reason is not None and "being reclaimed by team a" in b1.reason
    assert preempted == 1
    # Once the hold is over, b1 borrows the idle quota again.
    cycle(T0 + 10 + 300)
    assert store.jobs.get_run("b1").state is RunState.ADMITTED


class _StillStopping:
    """A backend whose replicas stop only when told to by the test (``stopped``)."""

    def __init__(self) -> None:
        self.stopped = False

    def for_placement(self, _placement: object) -> _StillStopping:
        return self

    def cancel(self, _handle: object, _grace_s: float) -> None:
        pass

    def poll(self, _handle: object) -> ReplicaReport:
        if self.stopped:
            return ReplicaReport(ReplicaStatus.EXITED, exit_code=143, cancelled=True)
        return ReplicaReport(ReplicaStatus.RUNNING)


def test_the_hold_holds_when_the_victim_is_requeued_by_a_later_cycle() -> None:
    """Live, a victim's processes take a moment to stop, so its requeue is a later cycle's
    (``settle``): the reclaim mark must survive that and hold it off the borrowed quota."""
    store, engine, backend = MemoryStore(), Engine(), _StillStopping()
    live = LiveState(resync_s=1e9)

    def cycle(at: float) -> int:
        return run_cycle(store, FLEET, engine, at, backends=backend, state=live).preempted  # type: ignore[arg-type]

    _submit(store, "b1", "b", T0)
    cycle(T0)
    _runs(store, "b1", T0 + 1)
    b1 = store.jobs.get_run("b1")
    store.jobs.update_run(replace(b1, handles=({"dir": "b1"},)), RunState.RUNNING)
    a = _submit(store, "a0", "a", T0 + 10)
    assert cycle(T0 + 10) == 1
    assert store.jobs.get_run("b1").state is RunState.PREEMPTED  # still stopping
    cycle(T0 + 10.5)  # a tick while it stops: the sync reads it preempted
    assert store.jobs.get_run("b1").state is RunState.PREEMPTED
    _runs(store, a, T0 + 11)
    _succeeds(store, a, T0 + 15)
    backend.stopped = True
    cycle(T0 + 16)  # settles b1 back to pending, then decides with a's quota idle
    b1 = store.jobs.get_run("b1")
    assert b1.state is RunState.PENDING, b1
    assert b1.reason is not None and "being reclaimed by team a" in b1.reason
