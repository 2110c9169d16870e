"""Metering: record a usage interval whenever a run's attempt stops holding capacity.

Call :func:`record_usage` in the unit of work that moves a run out of starting or running
(succeeded, failed, cancelled or preempted), with the run as it was before the move. Recording
is idempotent per run and attempt, so a second call for the same attempt stores nothing. It
never swallows a failure: usage that cannot be written fails the unit of work, which rolls the
state change back with it, so a retry redoes both and no attempt goes unbilled.
"""

from __future__ import annotations

from collections.abc import Callable

from aiplane.core.cost.attempts import attempt_interval
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.base import Repositories

METERED = frozenset({RunState.STARTING, RunState.RUNNING})


def record_usage(
    store: Repositories,
    job: Job,
    run_before: Run,
    ended_at: float,
    *,
    outcome: RunState | str = "ended",
    fleet: Fleet | None,
) -> UsageInterval | None:
    """Store the interval of ``run_before``'s attempt, ending at ``ended_at``.

    ``fleet`` (the fleet in force) prices egress and names the pool's pricing model; None
    before any fleet was applied. Returns the interval, or None when the run held no capacity
    (or was recorded). Raises what the store raises.
    """
    if run_before.state not in METERED or run_before.placement is None:
        return None
    interval = attempt_interval(job, run_before, ended_at, str(outcome), fleet)
    if interval is None or not store.usage.add(interval):
        return None
    return interval


def preemption_hook(fleet: Fleet) -> Callable[[Repositories, Run, float], None]:
    """For ``run_cycle(on_run_stopped=...)``: meter a preempted run's attempt in the unit of
    work of the preemption (given it, the run as it was before, and the time it was stopped)."""

    def stopped(uow: Repositories, run_before: Run, at: float) -> None:
        job = uow.jobs.get(run_before.job_id)
        record_usage(uow, job, run_before, at, outcome=RunState.PREEMPTED, fleet=fleet)

    return stopped
