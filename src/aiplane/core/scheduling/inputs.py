"""A job's progress as the engine sees it: one arithmetic for the live plane and the simulator.

Work is counted in hours at speed 1.0: an attempt on an accelerator option of speed ``s`` does
``s`` hours of work per hour. When an attempt ends early (preemption, spot interruption) the work
up to its last checkpoint is kept and the rest is lost; the GPU-seconds it held count as attained
service either way. :func:`fold_attempt` is that rule; :func:`requeue` applies it to a stored
run going back to the queue, and the simulator applies it to its own attempts, so least-attained-
service order, victim choice and remaining estimates are the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiplane.core.cost.attempts import attempt_start
from aiplane.core.runs import Job, Placement, Run, RunState
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun
from aiplane.core.workloads import AcceleratorOption, Workload

# A run that has outlived its estimate is taken to be nearly done, never done: a floor keeps
# its estimated end after now and its expected cost above zero.
MIN_REMAINING_FRACTION = 0.01


@dataclass(frozen=True)
class Progress:
    """What a job's ended attempts leave behind."""

    attained_gpu_s: float = 0.0  # GPU-seconds of service received
    checkpointed_hours: float = 0.0  # hours of work (speed 1.0) saved in checkpoints


@dataclass(frozen=True)
class EndedAttempt:
    progress: Progress  # including this attempt
    rework_gpu_s: float  # GPU-seconds of the attempt that were lost


def fold_attempt(
    progress: Progress,
    *,
    started_at: float,
    ended_at: float,
    gpus: float,
    speed: float,
    last_checkpoint_at: float | None,
) -> EndedAttempt:
    """Fold one attempt into ``progress``. An attempt that completed its work passes
    ``last_checkpoint_at=ended_at``: all of it is kept."""
    elapsed = max(0.0, ended_at - started_at)
    saved = 0.0
    if last_checkpoint_at is not None:
        saved = min(max(0.0, last_checkpoint_at - started_at), elapsed)
    return EndedAttempt(
        Progress(
            progress.attained_gpu_s + elapsed * gpus,
            progress.checkpointed_hours + saved * speed / 3600,
        ),
        (elapsed - saved) * gpus,
    )


def remaining_hours(hours: float, checkpointed_hours: float) -> float:
    """Hours of work (at speed 1.0) left of ``hours`` once ``checkpointed_hours`` are saved:
    the one estimate of what is left, for pricing, backfill, ordering and the simulator."""
    return max(hours - checkpointed_hours, hours * MIN_REMAINING_FRACTION)


def estimated_end(
    workload: Workload, checkpointed_hours: float, speed: float, start: float
) -> float | None:
    """When an attempt started at ``start`` at ``speed`` ends by the workload's estimate;
    None without one. A pending run (start: now) and a running one get the same end."""
    if workload.estimated_hours is None:
        return None
    return start + remaining_hours(workload.estimated_hours, checkpointed_hours) / speed * 3600


def option_for(workload: Workload, accelerator: str | None) -> AcceleratorOption | None:
    """The workload's option for ``accelerator``; None for one it does not list (or CPUs)."""
    for option in workload.accelerators:
        if option.name == accelerator:
            return option
    return None


def option_speed(workload: Workload, accelerator: str | None) -> float:
    """The relative speed of ``workload`` on ``accelerator`` (1.0 for one it does not list)."""
    option = option_for(workload, accelerator)
    return option.speed if option is not None else 1.0


def placement_gpus(placement: Placement) -> float:
    return sum(a.gpus for a in placement.assignments)


def progress_of(run: Run) -> Progress:
    return Progress(run.attained_gpu_s, run.checkpointed_hours)


def preempted(run: Run, at: float, reason: str) -> Run:
    """``run`` (starting or running) stopped for other work, keeping when its attempt began:
    a run preempted while starting has no ``started_at``, and the move to preempted replaces
    the ``updated_at`` its attempt is counted from (``attempt_start``)."""
    stopped = run.transition(RunState.PREEMPTED, at, reason)
    return replace(stopped, started_at=attempt_start(run))


def requeue(run: Run, workload: Workload, at: float, reason: str) -> Run:
    """A preempted run back in the queue, its ended attempt folded into its progress.

    The attempt counts from when it began to hold capacity, as metering bills it, to its move
    to preempted (``updated_at``; the requeue may come later, after a failed first try). An
    attempt preempted while starting adds its service but has no checkpoint to keep (only a
    running run is credited one).
    """
    if run.state is not RunState.PREEMPTED:
        raise ValueError(f"run {run.id} is {run.state}: only a preempted run is requeued")
    progress = progress_of(run)
    if run.placement is not None:
        progress = fold_attempt(
            progress,
            started_at=attempt_start(run),
            ended_at=run.updated_at,
            gpus=placement_gpus(run.placement),
            speed=option_speed(workload, run.placement.accelerator),
            last_checkpoint_at=run.last_checkpoint_at,
        ).progress
    folded = replace(
        run,
        attained_gpu_s=progress.attained_gpu_s,
        checkpointed_hours=progress.checkpointed_hours,
    )
    return folded.transition(RunState.PENDING, at, reason)


def checkpointed(run: Run, at: float, uri: str | None) -> Run:
    """``run`` with a checkpoint of its current attempt saved at ``at`` (a later one wins)."""
    if run.last_checkpoint_at is not None and run.last_checkpoint_at >= at:
        return run
    return replace(
        run,
        last_checkpoint_at=at,
        checkpoint_uri=uri if uri is not None else run.checkpoint_uri,
    )


def pending_input(
    run_id: str,
    job_id: str,
    workload: Workload,
    submitted_at: float,
    attempt: int,
    progress: Progress,
) -> PendingRun:
    return PendingRun(
        run_id=run_id,
        job_id=job_id,
        workload=workload,
        submitted_at=submitted_at,
        attempt=attempt,
        attained_gpu_s=progress.attained_gpu_s,
        checkpointed_hours=progress.checkpointed_hours,
    )


def running_input(
    run_id: str,
    job_id: str,
    workload: Workload,
    placement: Placement,
    submitted_at: float,
    started_at: float,
    last_checkpoint_at: float | None,
    progress: Progress,
    attempt: int,
) -> RunningRun:
    return RunningRun(
        run_id=run_id,
        job_id=job_id,
        workload=workload,
        placement=placement,
        submitted_at=submitted_at,
        started_at=started_at,
        last_checkpoint_at=last_checkpoint_at,
        # Service from earlier attempts; the current attempt's is GPUs x (now - started_at).
        attained_gpu_s=progress.attained_gpu_s,
        checkpointed_hours=progress.checkpointed_hours,
        attempt=attempt,
    )


def pending_of(job: Job, run: Run) -> PendingRun:
    """The engine's view of a stored pending run."""
    return pending_input(
        run.id, job.id, job.workload, job.submitted_at, run.attempt, progress_of(run)
    )


def running_of(job: Job, run: Run) -> RunningRun:
    """The engine's view of a stored run that holds capacity (it must have a placement).
    A run still starting counts from its move to starting, as metering does."""
    if run.placement is None:
        raise ValueError(f"run {run.id} holds no capacity: it has no placement")
    return running_input(
        run.id,
        job.id,
        job.workload,
        run.placement,
        job.submitted_at,
        attempt_start(run),
        run.last_checkpoint_at,
        progress_of(run),
        run.attempt,
    )
