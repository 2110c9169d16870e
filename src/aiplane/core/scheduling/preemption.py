"""Choosing which running runs to stop so that a pending run can start.

Which runs may be stopped at all (:func:`eligible_victims`) follows Kueue: lower priority
within the pending run's own quota pool, or, when its team reclaims nominal quota it lent to
its cohort, the borrowers of that quota whatever their priority.

Among the eligible, victims are taken to lose the least work: first the GPU-hours done since
each victim's last checkpoint (what preemption throws away), then lower priority, then the
youngest. The set is then trimmed: a victim whose capacity turns out not to be needed is
spared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiplane.core.scheduling.quota import QuotaLedger
from aiplane.core.scheduling.snapshot import RunningRun


def eligible_victims(
    running: Iterable[RunningRun],
    team: str,
    priority: int,
    accelerator: str | None,
    ledger: QuotaLedger,
    reclaim: bool,
) -> list[RunningRun]:
    """The runs of ``running`` that a pending run of ``team`` at (effective) ``priority`` may
    preempt, on a pool of ``accelerator``.

    A run of lower priority is eligible when it draws on the same quota: it belongs to
    ``team``, or neither team is quota-managed (both share the unmanaged capacity). With
    ``reclaim`` (the team is within its nominal quota but the cohort's shared pool is used
    up), a run of another team in the same cohort that borrows ``accelerator`` is eligible
    at any priority. Work of other managed teams is otherwise never touched: their quota is
    theirs.
    """
    cohort = ledger.cohort_of(team)
    managed = ledger.managed(team)
    out = []
    for run in running:
        other = run.workload.team
        lower = run.workload.priority < priority
        same_pool_of_quota = other == team or (not managed and not ledger.managed(other))
        if (same_pool_of_quota and lower) or (
            reclaim
            and cohort is not None
            and other != team
            and ledger.cohort_of(other) == cohort
            and ledger.borrowing(other, accelerator or "") > 0
        ):
            out.append(run)
    return out


def is_reclaim(victim: RunningRun, team: str, ledger: QuotaLedger) -> bool:
    """Whether an eligible ``victim`` of a pending run of ``team`` is stopped to give back
    quota it borrowed (rather than for priority): it is another team's, and ``team`` is
    quota-managed, which :func:`eligible_victims` allows only when reclaiming."""
    return victim.workload.team != team and ledger.managed(team)


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
