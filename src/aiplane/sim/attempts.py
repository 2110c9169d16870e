"""One job's progress across attempts: work done, checkpoints, rework, spot luck.

Work is counted in seconds at speed 1.0. An attempt on an accelerator of speed ``s`` does
``s`` seconds of work per second. Checkpoints are taken every ``checkpoint_minutes`` of an
attempt's wall time; stopping an attempt (preemption or spot interruption) keeps the work up to
its last checkpoint and loses the rest, which is counted as rework. Without a checkpoint
interval, a stopped attempt loses everything it did.
"""

from __future__ import annotations

import math
import random

from aiplane.core.runs import Placement
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun
from aiplane.core.workloads import Workload
from aiplane.sim.jobs import Shape, TraceJob
from aiplane.sim.metrics import JobRecord

PENDING, RUNNING, DONE = 0, 1, 2


class JobState:
    __slots__ = (
        "attained_gpu_s",
        "attempt",
        "checkpoint_s",
        "gpus",
        "index",
        "job",
        "placement",
        "rate_usd_per_s",
        "record",
        "remaining_s",
        "shape",
        "speed",
        "started_at",
        "state",
        "workload",
    )

    def __init__(self, index: int, job: TraceJob, workload: Workload, shape: Shape) -> None:
        self.index = index
        self.job = job
        self.workload = workload
        self.shape = shape
        self.state = PENDING
        self.remaining_s = job.duration_s
        self.attained_gpu_s = 0.0
        self.attempt = 1
        minutes = workload.checkpoint_minutes
        self.checkpoint_s = minutes * 60 if minutes else 0.0
        self.placement: Placement | None = None
        self.started_at = 0.0
        self.speed = 1.0
        self.gpus = 0.0
        self.rate_usd_per_s = 0.0
        self.record = JobRecord(job.id, job.team, job.gpus, job.submit_s)

    def pending_run(self) -> PendingRun:
        done_h = (self.job.duration_s - self.remaining_s) / 3600
        return PendingRun(
            run_id=self.job.id,
            job_id=self.job.id,
            workload=self.workload,
            submitted_at=self.job.submit_s,
            attempt=self.attempt,
            attained_gpu_s=self.attained_gpu_s,
            checkpointed_hours=done_h,
        )

    def running_run(self, last_checkpoint_at: float | None = None) -> RunningRun:
        assert self.placement is not None
        return RunningRun(
            run_id=self.job.id,
            job_id=self.job.id,
            workload=self.workload,
            placement=self.placement,
            submitted_at=self.job.submit_s,
            started_at=self.started_at,
            last_checkpoint_at=last_checkpoint_at,
            # Service from earlier attempts; the current attempt's is GPUs x (now - started_at).
            attained_gpu_s=self.attained_gpu_s,
        )

    def start(self, now: float, placement: Placement, speed: float, rate: float) -> float:
        """Begin an attempt; returns its finish time if nothing stops it."""
        self.state = RUNNING
        self.placement = placement
        self.started_at = now
        self.speed = speed
        self.gpus = sum(a.gpus for a in placement.assignments)
        self.rate_usd_per_s = rate / 3600
        if self.record.first_start_s is None:
            self.record.first_start_s = now
        self.record.pool = placement.pool
        return now + self.remaining_s / speed

    def checkpoints_done(self, now: float) -> int:
        if not self.checkpoint_s:
            return 0
        # The tolerance keeps a checkpoint that falls exactly at ``now`` from being lost to
        # floating-point rounding of (start + k * interval) - start.
        return math.floor((now - self.started_at) / self.checkpoint_s + 1e-9)

    def last_checkpoint(self, now: float) -> float | None:
        done = self.checkpoints_done(now)
        return self.started_at + done * self.checkpoint_s if done else None

    def _account(self, now: float) -> float:
        elapsed = now - self.started_at
        self.attained_gpu_s += elapsed * self.gpus
        self.record.run_s += elapsed
        self.record.cost_usd += elapsed * self.rate_usd_per_s
        return elapsed

    def finish(self, now: float) -> float:
        """End the attempt with the job done; returns its cost."""
        elapsed = self._account(now)
        self.remaining_s = 0.0
        self.state = DONE
        self.record.finish_s = now
        return elapsed * self.rate_usd_per_s

    def stop(self, now: float, interrupted: bool) -> float:
        """End the attempt early: keep work to the last checkpoint, count the rest as rework.
        Returns the attempt's cost."""
        elapsed = self._account(now)
        saved = (
            math.floor(elapsed / self.checkpoint_s) * self.checkpoint_s
            if self.checkpoint_s
            else 0.0
        )
        self.remaining_s = max(0.0, self.remaining_s - saved * self.speed)
        self.record.rework_gpu_s += (elapsed - saved) * self.gpus
        if interrupted:
            self.record.interruptions += 1
        else:
            self.record.preemptions += 1
        self.state = PENDING
        self.attempt += 1
        self.placement = None
        return elapsed * self.rate_usd_per_s


def interruption_delay(seed: int, run_id: str, attempt: int, rate_per_s: float) -> float:
    """Seconds until a spot interruption, exponential with ``rate_per_s``.

    Drawn from a generator seeded by (seed, run, attempt), so a run gets the same luck under
    every policy that places it the same way, and a replay is identical for the same seed.
    """
    if rate_per_s <= 0:
        return math.inf
    return random.Random(f"{seed}:{run_id}:{attempt}").expovariate(rate_per_s)
