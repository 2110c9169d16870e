"""The order in which pending runs are considered.

Across priority classes, higher first. Inside a class, teams take turns by dominant resource
share (DRF): the team using the smallest share of its most-used accelerator type goes next.
Inside a team, runs that have waited longer than the starvation age go first, then either the
least attained GPU-service (the default: it favours short jobs without knowing durations, as
Tiresias does) or submission order (FIFO).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping

from aiplane.core.budgets import BudgetAction
from aiplane.core.cost.budgets import actions_for
from aiplane.core.scheduling.snapshot import PendingRun, Snapshot
from aiplane.core.workloads import PRIORITY_CLASSES

LOWEST_PRIORITY = min(PRIORITY_CLASSES.values())


def effective_priority(run: PendingRun, snapshot: Snapshot) -> int:
    actions = actions_for(snapshot.budget_actions, run.workload.team, run.workload.project)
    if BudgetAction.LOWER_PRIORITY in actions:
        return min(run.workload.priority, LOWEST_PRIORITY)
    return run.workload.priority


def _in_team_key(snapshot: Snapshot) -> Callable[[PendingRun], tuple[float, float, float, str]]:
    now = snapshot.now
    age_limit = snapshot.settings.starvation_age_s
    fifo = snapshot.settings.ordering == "fifo"

    def key(run: PendingRun) -> tuple[float, float, float, str]:
        starving = 0.0 if now - run.submitted_at >= age_limit else 1.0
        service = 0.0 if fifo else run.attained_gpu_s
        return (starving, service, run.submitted_at, run.run_id)

    return key


class DominantShares:
    """Each team's dominant share: its largest fraction of any accelerator type's capacity."""

    def __init__(self, capacity: Mapping[str, float]) -> None:
        self._capacity = {k: v for k, v in capacity.items() if v > 0}
        self._usage: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._share: dict[str, float] = {}

    def add(self, team: str, accelerator: str | None, gpus: float) -> None:
        if accelerator is None:
            return
        self._usage[team][accelerator] += gpus
        usage = self._usage[team]
        self._share[team] = max(
            (g / self._capacity[a] for a, g in usage.items() if a in self._capacity), default=0.0
        )

    def share(self, team: str) -> float:
        return self._share.get(team, 0.0)


def order(snapshot: Snapshot, shares: DominantShares) -> Iterator[PendingRun]:
    """Yield pending runs in scheduling order. DRF shares are read lazily, so placements made
    by the caller between yields (recorded in ``shares``) steer which team goes next."""
    key = _in_team_key(snapshot)
    classes: dict[int, dict[str, list[PendingRun]]] = defaultdict(lambda: defaultdict(list))
    for run in snapshot.pending:
        classes[effective_priority(run, snapshot)][run.workload.team].append(run)
    for priority in sorted(classes, reverse=True):
        queues = classes[priority]
        for runs in queues.values():
            runs.sort(key=key, reverse=True)  # pop() from the end takes the first
        heap = [(shares.share(team), team) for team in sorted(queues)]
        heapq.heapify(heap)
        while heap:
            share, team = heapq.heappop(heap)
            runs = queues[team]
            # While the team's share does not change (its runs keep waiting) it stays the
            # team with the smallest share: serve it on without touching the heap.
            while runs and shares.share(team) == share:
                yield runs.pop()
            if runs:
                heapq.heappush(heap, (shares.share(team), team))
