"""One job's progress across attempts: work done, checkpoints, rework, spot luck.

A simulated run takes a checkpoint every ``checkpoint_minutes`` of an attempt's wall time
(without an interval, never). What an ended attempt leaves behind (attained service, the work
its last checkpoint saved, the rework it lost) is ``core.scheduling.inputs.fold_attempt``, the
rule the live control plane applies when it requeues a preempted run, and the engine's inputs
are built by the same module's ``pending_input`` and ``running_input``.
"""

from __future__ import annotations

import math
import random

from aiplane.core.runs import Placement
from aiplane.core.scheduling.inputs import (
    EndedAttempt,
    Progress,
    fold_attempt,
    pending_input,
    remaining_hours,
    running_input,
)
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun
from aiplane.core.workloads import Workload
from aiplane.sim.jobs import Shape, TraceJob
from aiplane.sim.metrics import JobRecord

PENDING, RUNNING, DONE = 0, 1, 2


class JobState:
    __slots__ = (
        "attempt",
        "checkpoint_s",
        "gpus",
        "index",
        "job",
        "placement",
        "progress",
        "rate_usd_per_s",
        "record",
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
        self.progress = Progress()
        self.attempt = 1
        minutes = workload.checkpoint_minutes
        self.checkpoint_s = minutes * 60 if minutes else 0.0
        self.placement: Placement | None = None
        self.started_at = 0.0
        self.speed = 1.0
        self.gpus = 0.0
        self.rate_usd_per_s = 0.0
        self.record = JobRecord(job.id, job.team, job.gpus, job.submit_s)

    @property
    def remaining_s(self) -> float:
        """Seconds of work (at speed 1.0) left after what checkpoints saved."""
        return remaining_hours(self.job.duration_s / 3600, self.progress.checkpointed_hours) * 3600

    def pending_run(self) -> PendingRun:
        return pending_input(
            self.job.id,
            self.job.id,
            self.workload,
            self.job.submit_s,
            self.attempt,
            self.progress,
        )

    def held(self) -> Placement:
        """Where the running attempt is placed."""
        if self.placement is None:
            raise RuntimeError(f"{self.job.id} is not running: it holds no placement")
        return self.placement

    def running_run(self, last_checkpoint_at: float | None = None) -> RunningRun:
        return running_input(
            self.job.id,
            self.job.id,
            self.workload,
            self.held(),
            self.job.submit_s,
            self.started_at,
            last_checkpoint_at,
            self.progress,
            self.attempt,
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

    def _end(self, now: float, last_checkpoint_at: float | None) -> tuple[float, EndedAttempt]:
        ended = fold_attempt(
            self.progress,
            started_at=self.started_at,
            ended_at=now,
            gpus=self.gpus,
            speed=self.speed,
            last_checkpoint_at=last_checkpoint_at,
        )
        self.progress = ended.progress
        elapsed = now - self.started_at
        self.record.run_s += elapsed
        self.record.cost_usd += elapsed * self.rate_usd_per_s
        return elapsed * self.rate_usd_per_s, ended

    def finish(self, now: float) -> float:
        """End the attempt with the job done; returns its cost."""
        cost, _ = self._end(now, last_checkpoint_at=now)
        self.state = DONE
        self.record.finish_s = now
        return cost

    def stop(self, now: float, interrupted: bool) -> float:
        """End the attempt early: keep work to the last checkpoint, count the rest as rework.
        Returns the attempt's cost."""
        cost, ended = self._end(now, self.last_checkpoint(now))
        self.record.rework_gpu_s += ended.rework_gpu_s
        if interrupted:
            self.record.interruptions += 1
        else:
            self.record.preemptions += 1
        self.state = PENDING
        self.attempt += 1
        self.placement = None
        return cost


def interruption_delay(seed: int, run_id: str, attempt: int, rate_per_s: float) -> float:
    """Seconds until a spot interruption, exponential with ``rate_per_s``.

    Drawn from a generator seeded by (seed, run, attempt), so a run gets the same luck under
    every policy that places it the same way, and a replay is identical for the same seed.
    """
    if rate_per_s <= 0:
        return math.inf
    return random.Random(f"{seed}:{run_id}:{attempt}").expovariate(rate_per_s)
