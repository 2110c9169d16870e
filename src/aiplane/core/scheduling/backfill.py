"""EASY backfill: a reservation for the first gang that cannot start, and the rule for what
may start in front of it.

The reservation is found by replaying the estimated ends of the pool's running runs until the
gang fits: that time is the shadow time and the nodes it would take are reserved. Later work
may use reserved nodes only if its own estimate says it ends before the shadow time; work
without an estimate may not use them at all. Running runs without an estimate are taken never
to end, so a reservation behind them has no shadow time and protects its nodes outright.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiplane.core.resources import Resources
from aiplane.core.scheduling.capacity import ANY_FILL, Fill, PoolCapacity
from aiplane.core.scheduling.inputs import estimated_end, option_speed
from aiplane.core.scheduling.snapshot import RunningRun


@dataclass(frozen=True)
class Reservation:
    run_id: str
    pool: str
    shadow_time: float  # math.inf when it depends on runs without an estimate
    nodes: frozenset[int]  # slot indices in the pool's capacity

    def allows(self, estimated_end: float | None) -> bool:
        """May work ending at ``estimated_end`` use the reserved nodes?"""
        return (
            estimated_end is not None
            and math.isfinite(self.shadow_time)
            and estimated_end <= self.shadow_time
        )


def reserve(
    run_id: str,
    capacity: PoolCapacity,
    need: Resources,
    replicas: int,
    running: list[tuple[float, RunningRun]],
    now: float,
    fill: Fill = ANY_FILL,
) -> Reservation | None:
    """The earliest time ``replicas`` x ``need`` fits on the pool's nodes that ``fill``
    allows, replaying ``running`` (pairs of estimated end and run, ends possibly inf) on a
    copy of its capacity."""
    nodes = [slot.state(capacity.key) for slot in capacity.slots]
    trial = PoolCapacity(capacity.key, nodes, capacity.pool)
    shadow = now
    for end, run in sorted(running, key=lambda pair: pair[0]):
        trial.release(run.placement.assignments, run.placement.instances)
        shadow = end
        placed = trial.pack(need, replicas, fill=fill)
        if placed is not None:
            taken = frozenset(trial.by_id[a.node] for a in placed)
            return Reservation(run_id, capacity.key, shadow, taken)
    return None


def estimated_ends(running: list[RunningRun], now: float) -> list[tuple[float, RunningRun]]:
    """(estimated end, run) for each run, by the estimate its pending run was placed with;
    inf for runs without an estimate, and never before ``now``."""
    out = []
    for run in running:
        w = run.workload
        speed = option_speed(w, run.placement.accelerator)
        end = estimated_end(w, run.checkpointed_hours, speed, run.started_at)
        out.append((math.inf if end is None else max(end, now), run))
    return out
