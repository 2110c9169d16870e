"""Reclaimed runs: a borrower preempted to give lent quota back keeps off it for a while.

When a team reclaims nominal quota it lent to its cohort, the borrowers' runs are preempted
(``preemption.eligible_victims``). Such a run is marked (:class:`Reclaimed`): for
``SchedulerSettings.reclaim_min_runtime_s`` after the reclaim it may start again only if that
does not make its team borrow the same accelerator type. Without the hold, the run is
re-admitted onto the borrowed quota as soon as the lender's demand dips (a job of the lender
finished, or its placement failed) and reclaimed again at the lender's next job: the probe of
issue 10 saw one run preempted 7 times in 40 s. The lender is never delayed: what it reclaimed
stays free for it. This is Slurm's ``PreemptExemptTime`` seen from the borrower (an attempt on
borrowed quota that may be reclaimed within a minimum runtime is not started), with Kueue's
rule that nominal quota is its owner's to take back at once. See decision 0033.

The mark lives in the scheduler state (``state.SchedulerState``), not in the store: a control
plane that restarts forgets it, which costs at most one more reclaim of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MIN_RUNTIME_S = 300.0


@dataclass(frozen=True)
class Reclaimed:
    """A run's last preemption to give borrowed quota back to its lender."""

    at: float  # when it was preempted
    by: str  # the lending team that reclaimed its quota
    pool: str  # where the run was
    accelerator: str | None  # the type of the quota reclaimed

    def until(self, min_runtime_s: float) -> float:
        """When the run may borrow this accelerator type again."""
        return self.at + min_runtime_s

    def holds(self, now: float, min_runtime_s: float) -> bool:
        """Whether the run is still kept off borrowed quota of its accelerator type."""
        return now < self.until(min_runtime_s)

    def describe(self, min_runtime_s: float) -> dict[str, object]:
        return {
            "by": self.by,
            "pool": self.pool,
            "accelerator": self.accelerator,
            "at": self.at,
            "until": self.until(min_runtime_s),
        }
