"""Choosing which running runs to stop so that a pending run can start.

Victims are taken to lose the least work: first the GPU-hours done since each victim's last
checkpoint (what preemption throws away), then lower priority, then the youngest. The set is
then trimmed: a victim whose capacity turns out not to be needed is spared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiplane.core.scheduling.snapshot import RunningRun


def lost_gpu_hours(run: RunningRun, now: float) -> float:
    since = run.last_checkpoint_at if run.last_checkpoint_at is not None else run.started_at
    return max(0.0, now - since) / 3600 * run.gpus


@dataclass(frozen=True)
class VictimSet:
    runs: tuple[RunningRun, ...]
    lost_gpu_hours: float


def choose_victims(
    candidates: Sequence[RunningRun],
    now: float,
    enough: Callable[[Sequence[RunningRun]], bool],
) -> VictimSet | None:
    """The cheapest set of ``candidates`` after whose removal ``enough`` holds, or None.

    ``enough(victims)`` answers whether the pending run fits (capacity and quota) once those
    victims are gone.
    """
    ranked = sorted(
        candidates,
        key=lambda r: (lost_gpu_hours(r, now), r.workload.priority, -r.started_at, r.run_id),
    )
    chosen: list[RunningRun] = []
    for run in ranked:
        chosen.append(run)
        if enough(chosen):
            break
    else:
        return None
    # Spare the victims that were not needed, most expensive first.
    for run in sorted(chosen, key=lambda r: -lost_gpu_hours(r, now)):
        trial = [v for v in chosen if v is not run]
        if trial and enough(trial):
            chosen = trial
    return VictimSet(tuple(chosen), sum(lost_gpu_hours(r, now) for r in chosen))
