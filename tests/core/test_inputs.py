"""Snapshot inputs: one arithmetic for an attempt's end, a requeue and the engine's view."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.runs import Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.scheduling.backfill import estimated_ends
from aiplane.core.scheduling.inputs import (
    Progress,
    checkpointed,
    estimated_end,
    fold_attempt,
    option_speed,
    pending_of,
    preempted,
    remaining_hours,
    requeue,
    running_of,
)
from aiplane.core.workloads import AcceleratorOption
from tests.builders import workload

W = workload(
    gpus=8,
    estimated_hours=10.0,
    accelerators=(AcceleratorOption("H100-80GB", 8, 2.0), AcceleratorOption("A100-80GB", 8, 1.0)),
)
PLACED = Placement(
    pool="s1/p1",
    site="s1",
    backend="emulated",
    accelerator="H100-80GB",
    assignments=(ReplicaAssignment(0, "s1/p1/0", 8.0, tuple(range(8))),),
    usd_per_hour=8.0,
    emulated=True,
)


def test_a_stopped_attempt_keeps_the_work_to_its_last_checkpoint_at_its_speed() -> None:
    ended = fold_attempt(
        Progress(attained_gpu_s=100.0, checkpointed_hours=1.0),
        started_at=1000.0,
        ended_at=1000.0 + 5400,
        gpus=8,
        speed=2.0,
        last_checkpoint_at=1000.0 + 3600,
    )
    assert ended.progress.attained_gpu_s == pytest.approx(100 + 5400 * 8)
    assert ended.progress.checkpointed_hours == pytest.approx(1.0 + 2.0)  # 1 h at speed 2
    assert ended.rework_gpu_s == pytest.approx(1800 * 8)


@pytest.mark.parametrize("checkpoint", [None, 500.0])  # never, or before the attempt began
def test_without_a_checkpoint_of_this_attempt_everything_is_lost(checkpoint: float | None) -> None:
    ended = fold_attempt(
        Progress(),
        started_at=1000.0,
        ended_at=2000.0,
        gpus=4,
        speed=1.0,
        last_checkpoint_at=checkpoint,
    )
    assert ended.progress == Progress(attained_gpu_s=4000.0, checkpointed_hours=0.0)
    assert ended.rework_gpu_s == pytest.approx(4000.0)


def _running(**changes: Any) -> Run:
    run = Run(
        "r1",
        "j1",
        RunState.RUNNING,
        created_at=0.0,
        updated_at=100.0,
        placement=PLACED,
        started_at=100.0,
        attained_gpu_s=50.0,
        checkpointed_hours=0.5,
    )
    return replace(run, **changes)


def test_requeue_folds_the_preempted_attempt_and_keeps_where_the_checkpoint_is() -> None:
    run = checkpointed(_running(), 100.0 + 1800, "/ckpt/j1/step-1")
    stopped = run.transition(RunState.PREEMPTED, 100.0 + 3600, "for a higher priority")
    again = requeue(stopped, W, 100.0 + 3600, "requeued")
    assert again.state is RunState.PENDING and again.attempt == 2
    assert again.placement is None and again.started_at is None
    assert again.last_checkpoint_at is None  # a new attempt has saved nothing yet
    assert again.checkpoint_uri == "/ckpt/j1/step-1"  # but it resumes from the old one
    assert again.attained_gpu_s == pytest.approx(50 + 3600 * 8)
    assert again.checkpointed_hours == pytest.approx(0.5 + 0.5 * 2.0)
    pending = pending_of(Job("j1", W, 0.0, "me"), again)
    assert (pending.attained_gpu_s, pending.checkpointed_hours, pending.attempt) == (
        again.attained_gpu_s,
        again.checkpointed_hours,
        2,
    )


def test_only_a_preempted_run_is_requeued() -> None:
    with pytest.raises(ValueError, match="only a preempted run is requeued"):
        requeue(_running(), W, 200.0, "no")


def test_an_older_checkpoint_changes_nothing() -> None:
    run = checkpointed(_running(), 900.0, "/ckpt/new")
    assert checkpointed(run, 800.0, "/ckpt/old") is run
    assert checkpointed(run, 950.0, None).checkpoint_uri == "/ckpt/new"


def test_a_running_run_as_the_engine_sees_it() -> None:
    run = checkpointed(_running(), 700.0, "/ckpt/x")
    view = running_of(Job("j1", W, 5.0, "me"), run)
    assert view.started_at == 100.0 and view.last_checkpoint_at == 700.0
    assert view.attained_gpu_s == 50.0 and view.checkpointed_hours == 0.5
    assert view.submitted_at == 5.0 and view.gpus == 8.0
    starting = replace(run, state=RunState.STARTING, started_at=None, updated_at=90.0)
    assert running_of(Job("j1", W, 5.0, "me"), starting).started_at == 90.0


def test_a_run_preempted_while_starting_gets_the_service_it_was_billed_for() -> None:
    """Metering bills a starting attempt from its move to starting; the requeue folds that
    interval too, with no checkpoint to keep."""
    starting = replace(_running(), state=RunState.STARTING, started_at=None, updated_at=100.0)
    stopped = preempted(starting, 100.0 + 600, "for a higher priority")
    assert stopped.started_at == 100.0
    again = requeue(stopped, W, 100.0 + 900, "requeued later")  # after a failed first try
    assert again.attained_gpu_s == pytest.approx(50 + 600 * 8)  # to the preemption, not later
    assert again.checkpointed_hours == pytest.approx(0.5)


def test_one_remaining_estimate_never_below_a_floor() -> None:
    assert remaining_hours(10.0, 4.0) == pytest.approx(6.0)
    assert remaining_hours(10.0, 12.0) == pytest.approx(0.1)  # outlived its estimate: 1% left
    assert option_speed(W, "H100-80GB") == 2.0 and option_speed(W, "other") == 1.0
    assert estimated_end(workload(estimated_hours=None), 0.0, 1.0, 0.0) is None


def test_a_run_has_the_same_estimated_end_pending_and_running() -> None:
    """The end the engine gives a pending run it places now is the end backfill gives it once
    running, also when checkpoints saved more than the estimate."""
    for saved in (3.0, 12.0):
        run = _running(started_at=500.0, checkpointed_hours=saved)
        view = running_of(Job("j1", W, 5.0, "me"), run)
        [(running_end, _)] = estimated_ends([view], now=500.0)
        assert running_end == estimated_end(W, saved, option_speed(W, "H100-80GB"), 500.0)
