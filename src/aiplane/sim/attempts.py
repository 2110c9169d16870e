"""One job's attempts in a replay: when each ends, what it costs, spot luck.

A simulated run takes a checkpoint every ``checkpoint_minutes`` of an attempt's wall time
(without an interval, never). The engine's view of the job (pending, then running, then
pending again with its attempt folded) is the scheduler state's, as in the live control plane
(``core.scheduling.state``); what is kept here is what only a replay knows: the true duration,
the attempt's price, and the job's record.
"""

from __future__ import annotations

import math
import random

from aiplane.core.runs import Placement
from aiplane.core.scheduling.inputs import EndedAttempt, Progress, pending_input, remaining_hours
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
        "rate_usd_per_s",
        "record",
        "shape",
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
        self.attempt = 1
        minutes = workload.checkpoint_minutes
        self.checkpoint_s = minutes * 60 if minutes else 0.0
        self.placement: Placement | None = None
        self.started_at = 0.0
        self.gpus = 0.0
        self.rate_usd_per_s = 0.0
        self.record = JobRecord(job.id, job.team, job.gpus, job.submit_s)

    def pending_run(self) -> PendingRun:
        """The engine's view of the job as submitted."""
        return pending_input(
            self.job.id, self.job.id, self.workload, self.job.submit_s, 1, Progress()
        )

    def held(self) -> Placement:
        """Where the running attempt is placed."""
        if self.placement is None:
            raise RuntimeError(f"{self.job.id} is not running: it holds no placement")
        return self.placement

    def start(self, run: RunningRun, speed: float, rate: float) -> float:
        """Begin the attempt the scheduler state admitted; returns its finish time if
        nothing stops it: the true duration less what checkpoints saved, at ``speed``."""
        now = run.started_at
        self.state = RUNNING
        self.placement = run.placement
        self.started_at = now
        self.gpus = run.gpus
        self.rate_usd_per_s = rate / 3600
        if self.record.first_start_s is None:
            self.record.first_start_s = now
        self.record.pool = run.placement.pool
        left_h = remaining_hours(self.job.duration_s / 3600, run.checkpointed_hours)
        return now + left_h * 3600 / speed

    def checkpoints_done(self, now: float) -> int:
        if not self.checkpoint_s:
            return 0
        # The tolerance keeps a checkpoint that falls exactly at ``now`` from being lost to
        # floating-point rounding of (start + k * interval) - start.
        return math.floor((now - self.started_at) / self.checkpoint_s + 1e-9)

    def last_checkpoint(self, now: float) -> float | None:
        done = self.checkpoints_done(now)
        return self.started_at + done * self.checkpoint_s if done else None

    def _end(self, now: float) -> float:
        elapsed = now - self.started_at
        self.record.run_s += elapsed
        self.record.cost_usd += elapsed * self.rate_usd_per_s
        return elapsed * self.rate_usd_per_s

    def finish(self, now: float) -> float:
        """End the attempt with the job done; returns its cost."""
        cost = self._end(now)
        self.state = DONE
        self.record.finish_s = now
        return cost

    def stop(self, now: float, ended: EndedAttempt, interrupted: bool) -> float:
        """End the attempt early (``ended``: what the scheduler state folded); returns its
        cost."""
        cost = self._end(now)
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
