"""Checkpoints reported by real processes steer victim choice and resumption."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aiplane.core.errors import ConflictError
from aiplane.core.runs import Run, RunState
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.inputs import requeue
from aiplane.services import checkpoints
from aiplane.services.metering import preemption_hook
from aiplane.services.scheduling import LiveState, run_cycle
from aiplane.workers.reconciler import reconciler_step
from tests.identities import ME
from tests.services.test_execution import Plane as ExecPlane
from tests.services.test_lifecycle import Plane
from tests.store.factories import T0, job, placement

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
    kinds = [e.kind for e in plane.jobs.events(ME, older)]
    assert "run.checkpoint" in kinds

    urgent = _gpu_job(plane, "urgent", "high", "echo urgent", delay=0.0)
    plane.wait(urgent, RunState.SUCCEEDED)
    resumed = plane.wait(older, RunState.SUCCEEDED)

    assert plane.store.jobs.run_for_job(newer).attempt == 1  # kept running
    assert resumed.attempt == 2
    checkpoint = tmp_path / "ckpt" / older / "step-1.pt"
    assert resumed.checkpoint_uri == str(checkpoint)
    assert resumed.checkpointed_hours > 0  # its remaining estimate is shorter by the saved work
    [(_replica, text)] = plane.jobs.logs(ME, older)
    assert f"resuming from {checkpoint}" in text
    plane.jobs.cancel(ME, newer)


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
    assert checkpoints.resume_env(run, plane.executor.checkpoint_root / job) == {
        "AIPLANE_RESUME_FROM": "s3://b/ckpt-1"
    }
    plane.jobs.cancel(ME, job)


# -- the completion convention, resumption and stale writes, without processes ---------------


def _save(path: Path, at: float, *, directory: bool = False, marker: str | None = None) -> Path:
    """A checkpoint completed at ``at``: a file, or a directory (with ``marker`` when given)."""
    if directory:
        path.mkdir(parents=True)
        (path / "shard-0").write_text("w")
        os.utime(path / "shard-0", (at, at))
        if marker is not None:
            (path / marker).write_text("")
            os.utime(path / marker, (at, at))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("w")
        os.utime(path, (at, at))
    return path


def test_only_complete_top_level_entries_are_checkpoints(tmp_path: Path) -> None:
    d = tmp_path / "job"
    assert checkpoints.latest_file(d) is None  # no directory yet
    _save(d / "step-1.pt", T0 + 10)
    _save(d / "step-2.pt.tmp", T0 + 20)
    _save(d / "step-3.partial", T0 + 30)
    _save(d / ".step-4.pt", T0 + 40)
    _save(d / "step-5", T0 + 50, directory=True)  # shards, no marker yet: in progress
    _save(d / "tb" / "events.out.tfevents.1", T0 + 60)  # a subdirectory without a marker
    assert checkpoints.latest_file(d) == (T0 + 10, d / "step-1.pt")

    _save(d / "step-6", T0 + 45, directory=True, marker="COMPLETE")
    assert checkpoints.latest_file(d) == (T0 + 45, d / "step-6")
    _save(d / "step-7", T0 + 55, directory=True, marker=".done")
    assert checkpoints.latest_file(d) == (T0 + 55, d / "step-7")
    # What lies deeper in a complete checkpoint is not looked at: the marker dates it.
    _save(d / "step-7" / "late-shard", T0 + 90)
    assert checkpoints.latest_file(d) == (T0 + 55, d / "step-7")


def _running_with_checkpoint(plane: ExecPlane, uri: str, saved_at: float) -> Run:
    admitted = plane.admit(1)
    starting = plane.store.jobs.update_run(
        admitted.transition(RunState.STARTING, T0 + 1), RunState.ADMITTED
    )
    running = plane.store.jobs.update_run(
        starting.transition(RunState.RUNNING, T0 + 2), RunState.STARTING
    )
    return checkpoints._record(plane.store, running, saved_at, uri, saved_at)[0]


def _preempt_and_readmit(plane: ExecPlane, run: Run, at: float) -> Run:
    job = plane.store.jobs.get(run.job_id)
    stopped = plane.store.jobs.update_run(
        run.transition(RunState.PREEMPTED, at, "preempted"), RunState.RUNNING
    )
    pending = plane.store.jobs.update_run(
        requeue(stopped, job.workload, at, "requeued"), RunState.PREEMPTED
    )
    return plane.store.jobs.update_run(
        replace(pending.transition(RunState.ADMITTED, at + 1), placement=placement()),
        RunState.PENDING,
    )


def _resume_envs(plane: ExecPlane) -> set[str | None]:
    return {r.spec.env.get(checkpoints.RESUME_ENV) for r in plane.cluster.replicas.values()}


def test_a_checkpoint_saved_while_a_preempted_run_stops_is_resumed_from(tmp_path: Path) -> None:
    plane = ExecPlane(tmp_path)
    folder = plane.executor.checkpoint_root / job(1).id
    first = _save(folder / "step-1.pt", T0 + 100)
    running = _running_with_checkpoint(plane, str(first), T0 + 100)
    assert running.checkpoint_uri == str(first)
    # Saved on SIGTERM in the grace period: the reconciler never saw the run running again.
    on_term = _save(folder / "step-2.pt", T0 + 205)
    admitted = _preempt_and_readmit(plane, running, T0 + 200)
    assert admitted.checkpoint_uri == str(first)

    plane.executor.launch_admitted(T0 + 300)

    assert _resume_envs(plane) == {str(on_term)}


def test_a_recorded_checkpoint_newer_than_any_file_is_resumed_from(tmp_path: Path) -> None:
    plane = ExecPlane(tmp_path)
    folder = plane.executor.checkpoint_root / job(1).id
    _save(folder / "step-1.pt", T0 + 100)
    running = _running_with_checkpoint(plane, "s3://bucket/step-9", T0 + 150)
    _preempt_and_readmit(plane, running, T0 + 200)
    plane.executor.launch_admitted(T0 + 300)
    assert _resume_envs(plane) == {"s3://bucket/step-9"}


def test_a_first_attempt_without_checkpoints_is_told_nothing(tmp_path: Path) -> None:
    plane = ExecPlane(tmp_path)
    plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    assert _resume_envs(plane) == {None}


def test_a_stale_read_never_restores_an_earlier_attempt(tmp_path: Path) -> None:
    """notice_files reads attempt 1 running; before it writes, the run is preempted, requeued,
    placed and running again as attempt 2. Its write conflicts, and read again the run is an
    attempt the file predates: attempt 2's placement and handles stay."""
    plane = ExecPlane(tmp_path)
    stale = _running_with_checkpoint(plane, "s3://b/0", T0 + 50)
    admitted = _preempt_and_readmit(plane, stale, T0 + 200)
    plane.executor.launch_admitted(T0 + 300)
    for handle in plane.handles(admitted.id):
        plane.cluster.start(handle)
    plane.executor.reconcile(T0 + 301)
    second = plane.store.jobs.get_run(admitted.id)
    assert second.state is RunState.RUNNING and second.attempt == 2

    stored, recorded = checkpoints._record(plane.store, stale, T0 + 150, "/ckpt/1", T0 + 310)

    assert not recorded
    assert stored == second == plane.store.jobs.get_run(admitted.id)


def test_a_checkpoint_is_reapplied_over_a_write_made_since_its_read(tmp_path: Path) -> None:
    plane = ExecPlane(tmp_path)
    read = _running_with_checkpoint(plane, "s3://b/0", T0 + 50)
    other = plane.store.jobs.update_run(replace(read, reason="noted"), RunState.RUNNING)

    stored, recorded = checkpoints._record(plane.store, read, T0 + 60, "s3://b/1", T0 + 61)

    assert recorded
    assert stored.reason == "noted" and stored.checkpoint_uri == "s3://b/1"
    assert stored.last_checkpoint_at == T0 + 60 and stored.checkpoint_saved_at == T0 + 60
    assert stored.revision == other.revision + 1
    assert plane.store.jobs.get_run(read.id) == stored
