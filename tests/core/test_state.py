"""The scheduler state and its applier, shared by the live control plane and the simulator."""

from __future__ import annotations

import pytest

from aiplane.core.errors import ConflictError
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.apply import Refusal
from aiplane.core.scheduling.decisions import Place, Preempt, Wait
from aiplane.core.scheduling.inputs import Progress, pending_input
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun
from aiplane.core.scheduling.state import Effects, SchedulerState, Stopped, apply_decisions
from aiplane.core.workloads import AcceleratorOption
from tests.builders import fleet, pool, site, workload

FLEET = fleet(site("s", pools=(pool(site="s", name="p", gpus=8, nodes=2),)))
W = workload(gpus=8, checkpoint_minutes=30, estimated_hours=2.0)


def placement(node: str) -> Placement:
    return Placement(
        pool="s/p",
        site="s",
        backend="emulated",
        accelerator="H100-80GB",
        assignments=(ReplicaAssignment(0, node, 8, tuple(range(8)), 1, 1),),
        usd_per_hour=8.0,
        emulated=True,
    )


def queued(state: SchedulerState, run_id: str, progress: Progress = Progress()) -> PendingRun:
    run = pending_input(run_id, "j" + run_id, W, 0.0, 1, progress)
    state.put_pending(run)
    return run


class Recorded(Effects):
    def __init__(self, conflict_on: str = "") -> None:
        self.conflict_on = conflict_on
        self.calls: list[str] = []

    def place(self, decision: Place, run: PendingRun) -> None:  # noqa: ARG002 (the hook's)
        self.calls.append(f"place {decision.run_id}")
        if self.conflict_on == "place":
            raise ConflictError("cancelled meanwhile")

    def placed(self, run: RunningRun, option: AcceleratorOption) -> None:
        self.calls.append(f"placed {run.run_id} {option.name}")

    def preempt(self, decision: Preempt, victim: RunningRun) -> None:  # noqa: ARG002 (the hook's)
        self.calls.append(f"preempt {decision.run_id} for {decision.for_run_id}")

    def requeue(self, stopped: Stopped) -> None:
        self.calls.append(f"requeue {stopped.run.run_id}")
        if self.conflict_on == "requeue":
            raise ConflictError("cancelled meanwhile")


def test_a_preemption_folds_the_attempt_and_requeues_before_the_placement_it_frees() -> None:
    state = SchedulerState(FLEET)
    queued(state, "low", Progress(attained_gpu_s=100.0))
    applied = apply_decisions(state, [Place("low", placement("s/p/0"))], Recorded(), 1000.0)
    assert applied.placed == 1 and state.running["low"].started_at == 1000.0
    state.checkpoint("low", 1000.0 + 1800)
    queued(state, "high")
    effects = Recorded()
    applied = apply_decisions(
        state,
        [Place("high", placement("s/p/0")), Preempt("low", "high", "room"), Wait("x", "later")],
        effects,
        1000.0 + 3600,
    )
    assert effects.calls == [
        "preempt low for high",
        "requeue low",
        "place high",
        "placed high H100-80GB",
    ]
    assert (applied.preempted, applied.placed, applied.waiting) == (1, 1, 1)
    again = state.pending["low"]
    assert again.attempt == 2
    assert again.attained_gpu_s == pytest.approx(100 + 3600 * 8)
    assert again.checkpointed_hours == pytest.approx(0.5)  # the work to its checkpoint
    assert set(state.running) == {"high"}
    snapshot = state.snapshot(5000.0)
    assert [n.free.gpus for n in snapshot.nodes] == [0.0, 8.0]


def test_stale_decisions_are_counted_and_change_nothing() -> None:
    state = SchedulerState(FLEET)
    queued(state, "a")
    applied = apply_decisions(
        state,
        [Place("gone", placement("s/p/0")), Preempt("a", "b", "not running")],
        Recorded(),
        0.0,
    )
    assert applied.stale == 2 and applied.refused == 0 and applied.placed == 0
    applied = apply_decisions(state, [Place("a", placement("s/p/0"))], Recorded("place"), 0.0)
    assert applied.refusals == {Refusal.STALE: 1}
    assert set(state.pending) == {"a"} and not state.running
    assert state.nodes.free[0].gpus == 8.0


def test_a_victim_cancelled_before_its_requeue_is_stopped_and_not_queued() -> None:
    state = SchedulerState(FLEET)
    queued(state, "a")
    apply_decisions(state, [Place("a", placement("s/p/0"))], Recorded(), 0.0)
    applied = apply_decisions(state, [Preempt("a", "b", "room")], Recorded("requeue"), 60.0)
    assert applied.preempted == 1 and applied.stale == 0
    assert not state.pending and not state.running and state.nodes.free[0].gpus == 8.0


def test_a_wrong_placement_is_refused_with_its_reason() -> None:
    state = SchedulerState(FLEET)
    queued(state, "a")
    state.put_running(RunningRun("b", "jb", W, placement("s/p/0"), 0.0, 0.0))  # s/p/0 is taken
    applied = apply_decisions(state, [Place("a", placement("s/p/0"))], Recorded(), 0.0)
    assert applied.refusals == {Refusal.OVER_ALLOCATION: 1} and applied.refused == 1
    finished, released = state.finish("b")
    assert finished.run_id == "b" and released == 0 and state.nodes.free[0].gpus == 8.0
