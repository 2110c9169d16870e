"""Shortest job first with known durations: an oracle baseline.

Pending runs are taken shortest remaining estimate first (``estimated_hours`` less the hours
already saved in checkpoints); a run that does not fit is skipped and smaller work behind it
may start. The simulator sets ``estimated_hours`` to the true duration for this policy only,
which makes it an upper bound on what duration-based ordering can do, not a fair competitor.
Non-preemptive; runs without an estimate go last, in submission order.
"""

from __future__ import annotations

import math

from aiplane.core.scheduling.baselines.placer import OfferCache, Placer
from aiplane.core.scheduling.decisions import Decision
from aiplane.core.scheduling.inputs import remaining_hours
from aiplane.core.scheduling.snapshot import PendingRun, Snapshot

_EXPLANATION = {"policy": "sjf", "order": "shortest remaining estimate (oracle)"}


def _remaining(run: PendingRun) -> tuple[float, float, str]:
    hours = run.workload.estimated_hours
    left = math.inf if hours is None else remaining_hours(hours, run.checkpointed_hours)
    return (left, run.submitted_at, run.run_id)


class ShortestJobFirst:
    name = "sjf"

    def __init__(self) -> None:
        self._cache = OfferCache()

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        out: list[Decision] = []
        if not snapshot.pending:
            return out
        placer = Placer(snapshot, self._cache, _EXPLANATION)
        if placer.capacity.exhausted():
            return out
        for run in sorted(snapshot.pending, key=_remaining):
            if placer.try_place(run, out) and placer.capacity.exhausted():
                break
        return out
