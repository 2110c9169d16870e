"""Checkpoints that runs report, and where the next attempt resumes from.

A run reports a checkpoint in one of two ways: it writes one under its checkpoint directory
(``AIPLANE_CHECKPOINT_DIR``, one per job), which :func:`notice_files` finds on the reconciler's
tick; or it calls ``POST /api/v1/jobs/{job_id}/checkpoints`` (:func:`report`). Either records
``last_checkpoint_at`` on the current attempt (compare-and-set on the run's state and
revision, with a ``run.checkpoint`` event), which the engine reads to rank victims by the work
a preemption would lose, and which a requeue folds into the run's checkpointed hours. A launch
tells the attempt where the newest complete checkpoint is (:func:`resume_env`): the recorded one
or a newer file in the directory, such as one saved on SIGTERM while a preempted run stopped.

What counts as a checkpoint in the directory (the completion convention; only what it needs
is looked at, one listing of the directory and a stat per entry):

- a top-level entry of the directory; what lies deeper belongs to that entry;
- not one whose name starts with ``.`` or ends with ``.tmp`` or ``.partial``: those are being
  written (write ``step-700.pt.tmp``, then rename it to ``step-700.pt``);
- a regular file counts as it stands, at its modification time;
- a directory counts once it holds a marker file, ``COMPLETE`` or ``.done``, at the marker's
  modification time: written shard by shard, it is in progress until the writer adds the
  marker (or renames a finished ``step-700.tmp/`` holding one into place). A directory without
  a marker is never credited, so TensorBoard events or logs in a subdirectory are not either;
  a log file at the top level would be, so logs belong elsewhere.

A checkpoint's time is the moment it was completed, not the moment the reconciler noticed it,
and the same after a restart of the control plane. Checkpoints older than the attempt's start
(when the control plane saw it running) are not credited to the attempt, so an earlier
attempt's is never counted twice, at the price of not crediting one written in the moments
before the run was seen running (the next one is).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiplane.core.errors import ConflictError
from aiplane.core.runs import Run, RunState
from aiplane.core.scheduling.inputs import checkpointed
from aiplane.services.events import record
from aiplane.store.base import Repositories, Store

# Called inside the unit of work that records a checkpoint (the audit entry of the call).
OnWrite = Callable[[Repositories, Run], None]

RESUME_ENV = "AIPLANE_RESUME_FROM"
_IN_PROGRESS = (".tmp", ".partial")
MARKERS = ("COMPLETE", ".done")


def resume_env(run: Run, directory: Path) -> dict[str, str]:
    """What a launch adds to the environment: the newest complete checkpoint of the job, the
    newer of the one recorded on the run and the newest in its checkpoint ``directory``."""
    where = resume_from(run, directory)
    return {RESUME_ENV: where} if where else {}


def resume_from(run: Run, directory: Path) -> str | None:
    recorded = run.checkpoint_uri
    found = latest_file(directory)
    if found is None:
        return recorded
    at, path = found
    saved_at = run.checkpoint_saved_at
    if recorded is not None and saved_at is not None and at <= saved_at:
        return recorded
    return str(path)


def report(
    store: Store,
    job_id: str,
    now: float,
    uri: str | None,
    at: float | None = None,
    *,
    audit: OnWrite | None = None,
) -> Run:
    """Record a checkpoint of the job's running attempt, saved at ``at`` (default ``now``).

    Raises ConflictError when the job's run is not running (there is no attempt to credit) or
    changed concurrently twice. An older checkpoint than the one recorded changes nothing.
    """
    run = store.jobs.run_for_job(job_id)
    if run.state is not RunState.RUNNING:
        raise ConflictError(f"job {job_id} is {run.state}: only a running job saves checkpoints")
    return _record(store, run, min(at if at is not None else now, now), uri, now, audit)[0]


def _record(
    store: Store, run: Run, at: float, uri: str | None, now: float, audit: OnWrite | None = None
) -> tuple[Run, bool]:
    """The checkpoint applied to ``run``: the run as stored, and whether it was recorded. On
    a conflict (another writer changed the run since it was read) it is applied once more, to
    the run read again, which may be a later attempt."""
    try:
        return _write(store, run, at, uri, now, audit)
    except ConflictError:
        fresh = store.jobs.get_run(run.id)
        if fresh.state is not RunState.RUNNING:
            raise
        return _write(store, fresh, at, uri, now, audit)


def _write(
    store: Store, run: Run, at: float, uri: str | None, now: float, audit: OnWrite | None = None
) -> tuple[Run, bool]:
    if run.started_at is not None and at < run.started_at:
        return run, False  # from an earlier attempt
    updated = checkpointed(run, at, uri)
    if updated is run:
        return run, False
    changes: dict[str, Any] = {"updated_at": now}
    if uri is not None:
        changes["checkpoint_saved_at"] = at
    updated = replace(updated, **changes)
    where = f" at {uri}" if uri else ""
    with store.unit_of_work() as uow:
        stored = uow.jobs.update_run(updated, expected_state=RunState.RUNNING)
        record(
            uow,
            now,
            "run.checkpoint",
            f"checkpoint{where}",
            stored,
            {"uri": uri, "saved_at": at},
        )
        if audit is not None:
            audit(uow, stored)
    return stored, True


def latest_file(directory: Path) -> tuple[float, Path] | None:
    """The newest complete checkpoint in ``directory`` by the module's convention: (the time
    it was completed, the top-level entry), or None."""
    newest: tuple[float, Path] | None = None
    try:
        with os.scandir(directory) as listing:
            for entry in listing:
                if entry.name.startswith(".") or entry.name.endswith(_IN_PROGRESS):
                    continue
                at = _completed_at(entry)
                if at is not None and (newest is None or at > newest[0]):
                    newest = (at, Path(entry.path))
    except OSError:
        return newest
    return newest


def _completed_at(entry: os.DirEntry[str]) -> float | None:
    try:
        if entry.is_dir():
            for marker in MARKERS:
                try:
                    return os.stat(os.path.join(entry.path, marker)).st_mtime
                except FileNotFoundError:
                    continue
            return None
        return entry.stat().st_mtime if entry.is_file() else None
    except OSError:
        return None  # gone or unreadable meanwhile: not a checkpoint now


def notice_files(store: Store, checkpoint_root: Path, now: float) -> int:
    """Record the checkpoints running runs completed since the last look; returns how many."""
    noticed = 0
    for run in store.jobs.runs_in_states([RunState.RUNNING]):
        found = latest_file(checkpoint_root / run.job_id)
        if found is None:
            continue
        at, path = found
        if run.last_checkpoint_at is not None and at <= run.last_checkpoint_at:
            continue
        try:
            noticed += _record(store, run, min(at, now), str(path), now)[1]
        except ConflictError:
            continue  # it ended meanwhile
    return noticed
