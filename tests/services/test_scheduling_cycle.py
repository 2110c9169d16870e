"""The live cycle's two-write preemption never strands a run, and its reads never skip one."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from aiplane.backends.base import (
    Backend,
    BackendConfig,
    Handle,
    LaunchSpec,
    ReplicaReport,
    ReplicaStatus,
)
from aiplane.backends.fake.backend import FakeBackend
from aiplane.backends.registry import PoolBackends
from aiplane.core.errors import BackendError, InconsistentSnapshotError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.scheduling.decisions import Decision, Preempt, Wait
from aiplane.core.scheduling.inputs import preempted
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.services.metering import preemption_hook
from aiplane.services.scheduling import UNREACHABLE_AFTER_S, LiveState, run_cycle
from aiplane.store.memory import MemoryStore
from tests.builders import workload
from tests.services.fleets import apply_fleet, stored_fleet

from .test_metering import FLEET, T0, start, submit


class _Decides:
    name = "scripted"

    def __init__(self, *decisions: Decision) -> None:
        self.decisions = list(decisions)

    def decide(self, _snapshot: Snapshot) -> list[Decision]:
        return self.decisions


class _Stops(FakeBackend):
    """A fake whose stops fail ``failures`` times, then run ``on_stop`` and succeed."""

    def __init__(self, failures: int = 0, on_stop: object = None) -> None:
        super().__init__()
        self.failures = failures
        self.on_stop = on_stop
        self.stops = 0

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        self.stops += 1
        if self.failures:
            self.failures -= 1
            raise BackendError("the cluster did not answer")
        if callable(self.on_stop):
            self.on_stop()
        super().cancel(handle, grace_s)


def _backends(tmp: Path, backend: _Stops) -> PoolBackends:
    def build(work_root: Path, config: BackendConfig) -> Backend:  # noqa: ARG001
        return backend

    return PoolBackends(tmp, factories={"emulated": build})


def _plane() -> tuple[MemoryStore, Fleet, Run]:
    store = MemoryStore()
    apply_fleet(store, FLEET, T0)
    fleet = stored_fleet(store)
    assert fleet is not None
    running = start(store, submit(store), T0 + 60)
    with_handles = replace(running, handles=({"id": "replica-0"},))
    store.jobs.update_run(with_handles, RunState.RUNNING)
    return store, fleet, with_handles


def test_a_victim_cancelled_before_its_requeue_does_not_abort_the_cycle(tmp_path: Path) -> None:
    store, fleet, victim = _plane()
    waiting = store.jobs.run_for_job(submit(store))

    def user_cancels() -> None:  # between the two writes of the preemption
        stored = store.jobs.get_run(victim.id)
        store.jobs.update_run(stored.transition(RunState.CANCELLED, T0 + 600), stored.state)

    backends = _backends(tmp_path, _Stops(on_stop=user_cancels))
    policy = _Decides(Preempt(victim.id, waiting.id, "make room"), Wait(waiting.id, "later"))
    result = run_cycle(store, fleet, policy, T0 + 600, backends=backends)

    assert result.preempted == 1 and result.refused == result.stale == 0
    assert store.jobs.get_run(victim.id).state is RunState.CANCELLED
    assert store.jobs.get_run(waiting.id).reason == "later"  # the cycle went on


def test_a_victim_whose_stop_failed_is_stopped_again_and_requeued_next_cycle(
    tmp_path: Path,
) -> None:
    store, fleet, victim = _plane()
    backend = _Stops(failures=1)
    backends = _backends(tmp_path, backend)
    stopped = preemption_hook(fleet)
    policy = _Decides(Preempt(victim.id, "other", "make room"))
    with pytest.raises(BackendError, match="did not answer"):
        run_cycle(store, fleet, policy, T0 + 600, backends=backends, on_run_stopped=stopped)
    assert store.jobs.get_run(victim.id).state is RunState.PREEMPTED

    state = LiveState()
    run_cycle(store, fleet, _Decides(), T0 + 900, backends=backends, state=state)

    again = store.jobs.get_run(victim.id)
    assert (again.state, again.attempt) == (RunState.PENDING, 2)
    assert backend.stops == 2
    # The attempt is folded up to its preemption, not to the late requeue: 16 GPUs x 540 s.
    assert again.attained_gpu_s == pytest.approx(16 * 540)
    assert state.pending[victim.id].attained_gpu_s == again.attained_gpu_s
    [usage] = store.usage.overlapping(T0, T0 + 86400)
    assert (usage.outcome, usage.end) == ("preempted", T0 + 600)


def _add(store: MemoryStore, i: int, state: RunState, at: float) -> None:
    job = Job(f"j{i:03d}", workload(gpus=1), at, "me")
    run = Run(f"r{i:03d}", job.id, RunState.PENDING, at, at)
    store.jobs.add(job, run)
    if state is not RunState.PENDING:
        store.jobs.update_run(run.transition(RunState.CANCELLED, at), RunState.PENDING)


def test_a_sync_reads_every_page_of_updates() -> None:
    store = MemoryStore()
    fleet = Fleet(sites=())
    state = LiveState(resync_s=1e9, overlap_s=0.0, page=2)
    state.load(store, fleet, T0)
    for i in range(7):  # more than three pages, some of them at one instant
        _add(store, i, RunState.PENDING, T0 + 10 + (i // 3))
    state.sync(store, fleet, T0 + 20)
    assert sorted(state.pending) == [f"r{i:03d}" for i in range(7)]
    for i in range(7):  # all updated later than the pending ones: still seen
        run = store.jobs.get_run(f"r{i:03d}")
        store.jobs.update_run(run.transition(RunState.CANCELLED, T0 + 30), RunState.PENDING)
    state.sync(store, fleet, T0 + 40)
    assert state.pending == {} and state.full_loads == 1


def test_a_load_pages_through_every_run() -> None:
    store = MemoryStore()
    for i in range(5):
        _add(store, i, RunState.PENDING, T0 + i)
    _add(store, 9, RunState.CANCELLED, T0)
    state = LiveState(page=2)
    state.load(store, Fleet(sites=()), T0 + 10)
    assert sorted(state.pending) == [f"r{i:03d}" for i in range(5)]


class _Slow(_Stops):
    """A fake whose stops are asked for but take effect only when the test ends the replica."""

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:  # noqa: ARG002
        self.stops += 1


def _launched(backend: FakeBackend) -> tuple[MemoryStore, Fleet, Run, Handle]:
    store, fleet, victim = _plane()
    spec = LaunchSpec(
        run_id=victim.id,
        job_id=victim.job_id,
        attempt=victim.attempt,
        replica=0,
        replicas=1,
        command="true",
        workdir=None,
        env={},
        site="gcp",
        pool="a3-spot",
        node="n0",
        accelerator=None,
        gpus=0.0,
    )
    handle = backend.launch(spec)
    backend.cluster.start(handle)
    stored = store.jobs.get_run(victim.id)
    victim = store.jobs.update_run(replace(stored, handles=(handle,)), RunState.RUNNING)
    return store, fleet, victim, handle


def test_a_victim_that_exited_0_before_its_preemption_succeeds_and_is_not_run_again(
    tmp_path: Path,
) -> None:
    backend = _Stops()
    store, fleet, victim, handle = _launched(backend)
    backend.cluster.finish(handle, 0)  # done; the reconciler has not seen it yet
    policy = _Decides(Preempt(victim.id, "other", "make room"))

    run_cycle(store, fleet, policy, T0 + 600, backends=_backends(tmp_path, backend))
    run_cycle(store, fleet, _Decides(), T0 + 660, backends=_backends(tmp_path, backend))

    done = store.jobs.get_run(victim.id)
    assert (done.state, done.attempt, done.exit_code) == (RunState.SUCCEEDED, victim.attempt, 0)
    assert done.reason == "finished before its preemption took effect"


def test_a_victim_still_stopping_stays_preempted_until_its_replicas_end(tmp_path: Path) -> None:
    backend = _Slow()
    store, fleet, victim, handle = _launched(backend)
    backends = _backends(tmp_path, backend)
    policy = _Decides(Preempt(victim.id, "other", "make room"))

    run_cycle(store, fleet, policy, T0 + 600, backends=backends)
    # Its processes still run: requeued now, it could be launched again beside them.
    assert store.jobs.get_run(victim.id).state is RunState.PREEMPTED

    backend.cluster.replica(handle).cancelled = True
    backend.cluster.finish(handle, 0)  # took the SIGTERM and exited 0: not its work done
    state = LiveState()
    run_cycle(store, fleet, _Decides(), T0 + 610, backends=backends, state=state)

    again = store.jobs.get_run(victim.id)
    assert (again.state, again.attempt) == (RunState.PENDING, victim.attempt + 1)
    assert victim.id in state.pending
    assert backend.stops == 2  # stopped again by the cycle that found it still preempted


class _Contradicted(_Decides):
    """A policy that finds the snapshot inconsistent (as the engine does when two control
    planes wrote one database) on its first ``fails`` cycles."""

    def __init__(self, fails: int) -> None:
        super().__init__()
        self.fails = fails
        self.message = "r-1: the victims chosen leave no room for it"

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        if self.fails:
            self.fails -= 1
            raise InconsistentSnapshotError(self.message)
        return super().decide(snapshot)


def test_an_inconsistent_snapshot_skips_the_cycle_and_reloads_the_state() -> None:
    store, fleet, _victim = _plane()
    state = LiveState()
    policy = _Contradicted(fails=1)

    skipped = run_cycle(store, fleet, policy, T0 + 600, state=state)
    assert (skipped.placed, skipped.preempted, skipped.refused) == (0, 0, 0)
    [event] = [e for e in store.events.recent(limit=100) if e.kind == "scheduler.inconsistent"]
    assert "no room" in event.message

    run_cycle(store, fleet, policy, T0 + 601, state=state)
    assert state.full_loads == 2  # reloaded, not synced from the state it distrusts


class _SaysNothingOfCancels(_Stops):
    """A backend whose reports leave ``cancelled`` unset: it does not say whether a cancel
    reached the replica before it exited."""

    def poll(self, handle: Handle) -> ReplicaReport:  # noqa: ARG002
        return ReplicaReport(ReplicaStatus.EXITED, exit_code=0)


def test_an_exit_0_from_a_backend_that_does_not_report_cancels_is_not_success(
    tmp_path: Path,
) -> None:
    backend = _SaysNothingOfCancels()
    store, fleet, victim, _handle = _launched(backend)
    policy = _Decides(Preempt(victim.id, "other", "make room"))

    run_cycle(store, fleet, policy, T0 + 600, backends=_backends(tmp_path, backend))

    # Its exit 0 may be how it took the SIGTERM: run again, not counted as done.
    again = store.jobs.get_run(victim.id)
    assert (again.state, again.attempt) == (RunState.PENDING, victim.attempt + 1)


class _Unreachable(_Stops):
    """A backend that can neither stop nor poll the run's replicas (handles outside its runs
    directory, left by another control plane or a moved home)."""

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:  # noqa: ARG002
        self.stops += 1
        raise BackendError(f"handle directory {handle['id']!r} is outside /elsewhere/runs")

    def poll(self, handle: Handle) -> ReplicaReport:
        raise BackendError(f"handle directory {handle['id']!r} is outside /elsewhere/runs")


def test_a_victim_that_can_be_neither_stopped_nor_polled_is_requeued_after_a_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, fleet, victim = _plane()
    running = store.jobs.get_run(victim.id)
    store.jobs.update_run(preempted(running, T0 + 600, "make room"), RunState.RUNNING)
    backend = _Unreachable()
    backends = _backends(tmp_path, backend)
    state = LiveState()
    grace_s = 5.0
    bound = T0 + 600 + grace_s + UNREACHABLE_AFTER_S

    with caplog.at_level(logging.WARNING, logger="aiplane.scheduling"):
        for now in (T0 + 601, T0 + 602, T0 + 603, bound - 1):
            run_cycle(
                store, fleet, _Decides(), now, backends=backends, grace_s=grace_s, state=state
            )
            assert store.jobs.get_run(victim.id).state is RunState.PREEMPTED
        failures = [r.getMessage() for r in caplog.records if "preempted run" in r.getMessage()]
        # Said once for the run, not at every cycle.
        assert [m.split(" preempted")[0] for m in failures] == ["cannot stop", "cannot poll"]

        run_cycle(store, fleet, _Decides(), bound, backends=backends, grace_s=grace_s, state=state)

    again = store.jobs.get_run(victim.id)
    assert (again.state, again.attempt) == (RunState.PENDING, victim.attempt + 1)
    assert again.reason is not None and "could not be reached" in again.reason
    assert victim.id in state.pending
    [event] = [e for e in store.events.recent(limit=100) if "could not be reached" in e.message]
    assert event.kind == "run.state" and event.run_id == victim.id
    assert state.warned == set()  # settled: nothing left to remember of it


def test_the_same_inconsistency_is_recorded_once_a_new_one_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, fleet, _victim = _plane()
    state = LiveState()
    policy = _Contradicted(fails=4)

    with caplog.at_level(logging.WARNING, logger="aiplane.scheduling"):
        for now in (T0 + 600, T0 + 601, T0 + 602):
            run_cycle(store, fleet, policy, now, state=state)
        policy.message = "r-2: the victims chosen leave no room for it"
        run_cycle(store, fleet, policy, T0 + 603, state=state)

    events = [e for e in store.events.recent(limit=100) if e.kind == "scheduler.inconsistent"]
    assert sorted("r-2" in e.message for e in events) == [False, True]
    warnings = [r.getMessage() for r in caplog.records if "cycle skipped" in r.getMessage()]
    assert ["r-2" in m for m in warnings] == [False, True]
    assert state.full_loads == 4  # each skipped cycle still reloads the state
