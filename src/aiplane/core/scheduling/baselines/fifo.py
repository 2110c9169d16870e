"""FIFO: strict submission order, gang all-or-nothing, best fit (a baseline for comparisons).

The head of the queue blocks everything behind it until its whole gang fits: that is what
"strict" means, and why FIFO suffers head-of-line blocking on a busy cluster. A run that no
pool can ever take (its constraints or shape rule out every pool) is skipped, not waited for,
so it cannot block the queue forever. Priority classes and quotas are ignored on purpose.
Runs without a decision keep waiting; only the blocked head gets a ``Wait`` with its reason.
"""

from __future__ import annotations

from operator import attrgetter

from aiplane.core.scheduling.baselines.placer import OfferCache, Placer
from aiplane.core.scheduling.decisions import Decision, Wait
from aiplane.core.scheduling.snapshot import PendingRun, Snapshot

_SUBMISSION = attrgetter("submitted_at", "run_id")
_EXPLANATION = {"policy": "fifo", "order": "submission time"}


class Fifo:
    name = "fifo"

    def __init__(self) -> None:
        self._cache = OfferCache()

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        out: list[Decision] = []
        if not snapshot.pending:
            return out
        placer = Placer(snapshot, self._cache, _EXPLANATION)
        if placer.capacity.exhausted():
            return out
        # On a busy cluster the head is usually blocked: find it in one pass and sort the
        # queue only when it starts and the next head matters.
        head = min(snapshot.pending, key=_SUBMISSION)
        if not self._admit(head, placer, out):
            return out
        for run in sorted(snapshot.pending, key=_SUBMISSION):
            if run is head:
                continue
            if placer.capacity.exhausted() or not self._admit(run, placer, out):
                break
        return out

    @staticmethod
    def _admit(run: PendingRun, placer: Placer, out: list[Decision]) -> bool:
        """Place ``run``, or skip it if no pool can ever take it; False if it must block."""
        if placer.try_place(run, out) or not placer.options(run):
            return True
        out.append(Wait(run.run_id, "head of the FIFO queue: no room for its whole gang yet"))
        return False
