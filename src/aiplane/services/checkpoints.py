"""Checkpoints that runs report, and where the next attempt resumes from.

A run reports a checkpoint in one of two ways: it writes a file (or a directory) under its
checkpoint directory (``AIPLANE_CHECKPOINT_DIR``, one per job), which :func:`notice_files`
finds on the reconciler's tick; or it calls ``POST /api/v1/jobs/{job_id}/checkpoints``
(:func:`report`). Either records ``last_checkpoint_at`` on the current attempt (compare-and-set
on the run's state, with a ``run.checkpoint`` event), which the engine reads to rank victims by
the work a preemption would lose, and which a requeue folds into the run's checkpointed hours.
The next attempt is told where the latest checkpoint is (:func:`resume_env`).

A file's time is its modification time: the moment the checkpoint was written, not the moment
the reconciler noticed it, and the same after a restart of the control plane. Files older than
the attempt's start (when the control plane saw it running) and files still being written
(``*.tmp``, ``*.partial``) do not count: so an earlier attempt's checkpoint is never credited
to this one, at the price of not crediting one written in the moments before the run was seen
running (the next checkpoint is).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from aiplane.core.errors import ConflictError
from aiplane.core.runs import Run, RunState
from aiplane.core.scheduling.inputs import checkpointed
from aiplane.services.events import record
from aiplane.store.base import Store

RESUME_ENV = "AIPLANE_RESUME_FROM"
_IN_PROGRESS = (".tmp", ".partial")


def resume_env(run: Run) -> dict[str, str]:
    """What a launch adds to the environment: the latest checkpoint of an earlier attempt."""
    return {RESUME_ENV: run.checkpoint_uri} if run.checkpoint_uri else {}


def report(store: Store, job_id: str, now: float, uri: str | None, at: float | None = None) -> Run:
    """Record a checkpoint of the job's running attempt, saved at ``at`` (default ``now``).

    Raises ConflictError when the job's run is not running (there is no attempt to credit) or
    changed concurrently. An older checkpoint than the one recorded changes nothing.
    """
    run = store.jobs.run_for_job(job_id)
    if run.state is not RunState.RUNNING:
        raise ConflictError(f"job {job_id} is {run.state}: only a running job saves checkpoints")
    return _record(store, run, min(at if at is not None else now, now), uri, now)


def _record(store: Store, run: Run, at: float, uri: str | None, now: float) -> Run:
    if run.started_at is not None and at < run.started_at:
        return run  # from an earlier attempt
    updated = checkpointed(run, at, uri)
    if updated is run:
        return run
    updated = replace(updated, updated_at=now)
    where = f" at {uri}" if uri else ""
    with store.unit_of_work() as uow:
        uow.jobs.update_run(updated, expected_state=RunState.RUNNING)
        record(
            uow,
            now,
            "run.checkpoint",
            f"checkpoint{where}",
            updated,
            {"uri": uri, "saved_at": at},
        )
    return updated


def latest_file(directory: Path) -> tuple[float, Path] | None:
    """The newest checkpoint under ``directory``: (its time, the top-level entry holding it)."""
    newest: tuple[float, Path] | None = None
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        if entry.name.endswith(_IN_PROGRESS) or entry.name.startswith("."):
            continue
        mtime = _newest_mtime(Path(entry.path))
        if mtime is not None and (newest is None or mtime > newest[0]):
            newest = (mtime, Path(entry.path))
    return newest


def _newest_mtime(path: Path) -> float | None:
    try:
        if not path.is_dir():
            return path.stat().st_mtime
        times = [
            (Path(root) / name).stat().st_mtime
            for root, _, files in os.walk(path)
            for name in files
            if not name.endswith(_IN_PROGRESS)
        ]
    except OSError:
        return None
    return max(times, default=None)


def notice_files(store: Store, checkpoint_root: Path, now: float) -> int:
    """Record the checkpoints running runs wrote since the last look; returns how many."""
    noticed = 0
    for run in store.jobs.runs_in_states([RunState.RUNNING]):
        found = latest_file(checkpoint_root / run.job_id)
        if found is None:
            continue
        at, path = found
        if run.last_checkpoint_at is not None and at <= run.last_checkpoint_at:
            continue
        try:
            if _record(store, run, min(at, now), str(path), now) is not run:
                noticed += 1
        except ConflictError:
            continue  # it ended meanwhile
    return noticed
