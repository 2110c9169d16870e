"""Metering: record a usage interval whenever a run's attempt stops holding capacity.

Call :func:`record_usage` right after a run moves out of starting or running (succeeded,
failed, cancelled or preempted), with the run as it was before the move. Recording is
idempotent per run and attempt, so a second call for the same attempt stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiplane.core.cost.attempts import attempt_interval
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Run, RunState
from aiplane.specs import fleet_from_document
from aiplane.store.base import Store

log = logging.getLogger("aiplane.metering")

METERED = frozenset({RunState.STARTING, RunState.RUNNING})


def stored_fleet(store: Store) -> Fleet | None:
    record = store.get_fleet()
    return fleet_from_document(record.document, "stored fleet") if record is not None else None


def record_usage(
    store: Store,
    job: Job,
    run_before: Run,
    ended_at: float,
    *,
    outcome: RunState | str = "ended",
    fleet: Fleet | None = None,
) -> UsageInterval | None:
    """Store the interval of ``run_before``'s attempt, ending at ``ended_at``.

    ``fleet`` prices egress and names the pool's pricing model; without it the stored fleet
    is read. Returns the interval, or None when the run held no capacity (or was recorded).
    Metering must never undo the state change it follows, so a store failure is logged.
    """
    if run_before.state not in METERED or run_before.placement is None:
        return None
    try:
        if fleet is None:
            fleet = stored_fleet(store)
        interval = attempt_interval(job, run_before, ended_at, str(outcome), fleet)
        if interval is None or not store.add_usage(interval):
            return None
        return interval
    except Exception:  # the run's new state is already stored; lose the interval, not it
        log.exception(
            "could not record usage of run %s attempt %s", run_before.id, run_before.attempt
        )
        return None


def preemption_hook(store: Store, fleet: Fleet | None = None) -> Callable[[Run, float], None]:
    """For ``run_cycle(on_run_stopped=...)``: meter a preempted run's attempt (given the run as
    it was before the preemption and the time it was stopped)."""

    def stopped(run_before: Run, at: float) -> None:
        record_usage(
            store, store.get_job(run_before.job_id), run_before, at,
            outcome=RunState.PREEMPTED, fleet=fleet,
        )  # fmt: skip

    return stopped
