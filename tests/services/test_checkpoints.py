"""Checkpoints reported by real processes steer victim choice and resumption."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiplane.core.errors import ConflictError
from aiplane.core.runs import RunState
from aiplane.core.scheduling.engine import Engine
from aiplane.services import checkpoints
from aiplane.services.metering import preemption_hook
from aiplane.services.scheduling import LiveState, run_cycle
from aiplane.workers.reconciler import reconciler_step
from tests.services.test_lifecycle import Plane

# Resumes (and says so) when told where its checkpoint is; else saves one after DELAY seconds
# and keeps running.
SCRIPT = (
    'if [ -n "$AIPLANE_RESUME_FROM" ]; then echo "resuming from $AIPLANE_RESUME_FROM"; exit 0; fi; '
    'sleep "$DELAY"; echo weights > "$AIPLANE_CHECKPOINT_DIR/step-1.pt"; sleep 60'
)


class CheckpointPlane(Plane):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.state = LiveState()

    def step(self) -> None:
        fleet = self.cache.current()
        assert fleet is not None
        now = time.time()
        run_cycle(
            self.store,
            fleet,
            Engine(),
            now,
            backends=self.backends,
            grace_s=1.0,
            on_run_stopped=preemption_hook(fleet),
            state=self.state,
        )
        self.executor.launch_admitted(time.time())
        reconciler_step(self.executor, time.time)


@pytest.fixture
def plane(tmp_path: Path) -> CheckpointPlane:
    return CheckpointPlane(tmp_path)


def _gpu_job(plane: CheckpointPlane, name: str, priority: str, run: str, delay: float) -> str:
    return plane.submit(
        name=name,
        run=run,
        priority=priority,
        env={"DELAY": str(delay)},
        resources={"accelerators": "H100:8", "cpus": 1},
    )


def _wait_checkpoint(plane: CheckpointPlane, job_id: str, timeout: float = 20) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        plane.step()
        run = plane.store.jobs.run_for_job(job_id)
        if run.last_checkpoint_at is not None:
            return run.last_checkpoint_at
        time.sleep(0.1)
    raise AssertionError(f"{job_id} never reported a checkpoint")


def test_preemption_takes_the_most_recently_checkpointed_run_which_resumes_from_it(
    plane: CheckpointPlane, tmp_path: Path
) -> None:
    # ``older`` starts first, so by time alone it would lose more work; it checkpoints later.
    older = _gpu_job(plane, "older", "low", SCRIPT, delay=3.0)
    plane.wait(older, RunState.RUNNING)
    newer = _gpu_job(plane, "newer", "low", SCRIPT, delay=1.0)
    plane.wait(newer, RunState.RUNNING)
    newer_saved = _wait_checkpoint(plane, newer)
    older_saved = _wait_checkpoint(plane, older)
    assert older_saved > newer_saved
    older_start = plane.store.jobs.run_for_job(older).started_at
    newer_start = plane.store.jobs.run_for_job(newer).started_at
    assert older_start is not None and newer_start is not None
    assert older_start < newer_start
    kinds = [e.kind for e in plane.jobs.events(older)]
    assert "run.checkpoint" in kinds

    urgent = _gpu_job(plane, "urgent", "high", "echo urgent", delay=0.0)
    plane.wait(urgent, RunState.SUCCEEDED)
    resumed = plane.wait(older, RunState.SUCCEEDED)

    assert plane.store.jobs.run_for_job(newer).attempt == 1  # kept running
    assert resumed.attempt == 2
    checkpoint = tmp_path / "ckpt" / older / "step-1.pt"
    assert resumed.checkpoint_uri == str(checkpoint)
    assert resumed.checkpointed_hours > 0  # its remaining estimate is shorter by the saved work
    [(_replica, text)] = plane.jobs.logs(older)
    assert f"resuming from {checkpoint}" in text
    plane.jobs.cancel(newer)


def test_a_workload_reports_a_checkpoint_through_the_service(plane: CheckpointPlane) -> None:
    job = plane.submit(name="api", run="sleep 60", resources={"cpus": 1})
    with pytest.raises(ConflictError):  # not running yet: no attempt to credit
        checkpoints.report(plane.store, job, time.time(), "s3://b/ckpt-0")
    plane.wait(job, RunState.RUNNING)
    now = time.time()
    run = checkpoints.report(plane.store, job, now, "s3://b/ckpt-1")
    assert run.last_checkpoint_at == now and run.checkpoint_uri == "s3://b/ckpt-1"
    # An older report changes nothing.
    assert checkpoints.report(plane.store, job, now + 1, "s3://b/ckpt-0", at=now - 1) == run
    assert checkpoints.resume_env(run) == {"AIPLANE_RESUME_FROM": "s3://b/ckpt-1"}
    plane.jobs.cancel(job)
