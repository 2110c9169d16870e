"""Submitting, listing, inspecting and cancelling jobs.

:class:`JobService` is what the edges call: each method a whole use case over the functions
below, which take everything they need as arguments (and which tests drive directly).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from aiplane.backends.base import Backends
from aiplane.core.errors import NotFoundError, Problem, SpecError
from aiplane.core.events import Event
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.workloads import Workload
from aiplane.services import checkpoints
from aiplane.services.budgets import BudgetCache, check_submission
from aiplane.services.events import record
from aiplane.services.fleet import FleetCache
from aiplane.services.ids import new_id
from aiplane.services.metering import record_usage
from aiplane.store.base import Store


@dataclass(frozen=True)
class JobView:
    job: Job
    run: Run


def submit(
    store: Store,
    workload: Workload,
    fleet: Fleet | None,
    by: str,
    now: float,
    budgets: BudgetCache | None = None,
) -> JobView:
    """Queue a workload. Checks what only the fleet can tell (known team, known datasets, a
    budget that blocks the team or project); capacity is the scheduler's business, so a
    submission never waits for it."""
    if fleet is not None:
        problems = []
        if fleet.teams and fleet.team(workload.team) is None:
            problems.append(
                Problem(
                    "team",
                    "unknown team",
                    repr(workload.team),
                    ", ".join(t.name for t in fleet.teams),
                )
            )
        for i, name in enumerate(workload.inputs):
            if fleet.dataset(name) is None:
                known = ", ".join(d.name for d in fleet.datasets) or "none declared"
                problems.append(Problem(f"inputs[{i}]", "unknown dataset", repr(name), known))
        if problems:
            raise SpecError(f"workload {workload.name!r} does not fit the fleet", problems)
        check_submission(store, fleet, workload, now, budgets)
    job_id = new_id("j-", now)
    job = Job(job_id, workload, now, by)
    run = Run(
        id="r-" + job_id[2:], job_id=job_id, state=RunState.PENDING, created_at=now, updated_at=now
    )
    submitted = Event(now, "job.submitted", f"{workload.name} submitted by {by}", job_id, run.id)
    with store.unit_of_work() as uow:
        uow.jobs.add(job, run)
        uow.events.add(submitted)
    return JobView(job, run)


def get(store: Store, job_id: str) -> JobView:
    return JobView(store.jobs.get(job_id), store.jobs.run_for_job(job_id))


def listing(
    store: Store,
    limit: int,
    before: str | None = None,
    states: Collection[RunState] | None = None,
    team: str | None = None,
) -> list[JobView]:
    return [
        JobView(job, run)
        for job, run in store.jobs.page(limit=limit, before=before, states=states, team=team)
    ]


def events(store: Store, job_id: str, limit: int = 200) -> list[Event]:
    store.jobs.get(job_id)
    return store.events.recent(job_id=job_id, limit=limit)


def cancel(
    store: Store,
    backends: Backends,
    job_id: str,
    now: float,
    grace_s: float,
    *,
    fleet: Fleet | None,
) -> JobView:
    """Cancel a job: mark the run cancelled first, then stop its processes.

    The new state, its event and the usage of the attempt it ends are one unit of work: a
    failed write leaves the run as it was and raises, so a retry does all of it. Marking before
    stopping means that if this process dies between the two steps, recovery sees a cancelled
    run with live processes and stops them (see ``execution.recover``).
    """
    with store.unit_of_work() as uow:
        job = uow.jobs.get(job_id)
        run = uow.jobs.run_for_job(job_id)
        if run.state.terminal:
            return JobView(job, run)
        cancelled = run.transition(RunState.CANCELLED, now, "cancelled by request")
        uow.jobs.update_run(cancelled, expected_state=run.state)
        record(uow, now, "run.state", f"{run.state} -> cancelled (by request)", cancelled)
        record_usage(uow, job, run, now, outcome=RunState.CANCELLED, fleet=fleet)
    stop_processes(backends, cancelled, grace_s)
    return JobView(job, cancelled)


def stop_processes(backends: Backends, run: Run, grace_s: float) -> None:
    if run.placement is None or not run.handles:
        return
    backend = backends.for_placement(run.placement)
    for handle in run.handles:
        backend.cancel(handle, grace_s)


def logs(
    store: Store,
    backends: Backends,
    job_id: str,
    replica: int | None = None,
    tail_bytes: int | None = None,
) -> list[tuple[int, str]]:
    """Logs of each replica of the job's current run, as (replica, text)."""
    run = store.jobs.run_for_job(job_id)
    if run.placement is None or not run.handles:
        return []
    backend = backends.for_placement(run.placement)
    out = []
    for index, handle in enumerate(run.handles):
        if replica is not None and index != replica:
            continue
        out.append((index, backend.logs(handle, tail_bytes)))
    if replica is not None and not out:
        raise NotFoundError(f"job {job_id} has no replica {replica} (it has {len(run.handles)})")
    return out


# The events that say why a run is where it is (or is still waiting).
DECISION_EVENTS = ("run.placed", "run.waiting")


@dataclass(frozen=True)
class Explanation:
    view: JobView
    decisions: list[Event]


class JobService:
    """Jobs: what ``/api/v1/jobs`` and ``aiplane jobs`` call."""

    def __init__(
        self,
        store: Store,
        fleets: FleetCache,
        budgets: BudgetCache,
        backends: Backends,
        clock: Callable[[], float],
        wake: Callable[[], None],
        cancel_grace_s: float,
    ) -> None:
        self._store = store
        self._fleets = fleets
        self._budgets = budgets
        self._backends = backends
        self._clock = clock
        self._wake = wake
        self._grace_s = cancel_grace_s

    def submit(self, workload: Workload, by: str) -> JobView:
        """Check the workload against the fleet in force and its budgets, queue it (job, run
        and event in one unit of work) and wake the scheduler."""
        view = submit(
            self._store, workload, self._fleets.current(), by, self._clock(), self._budgets
        )
        self._wake()
        return view

    def listing(
        self,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
    ) -> list[JobView]:
        return listing(self._store, limit, before, states, team)

    def show(self, job_id: str) -> JobView:
        return get(self._store, job_id)

    def events(self, job_id: str) -> list[Event]:
        return events(self._store, job_id)

    def explain(self, job_id: str) -> Explanation:
        """The job's state and placement, and the scheduler's decisions about it."""
        view = get(self._store, job_id)
        decisions = [e for e in events(self._store, job_id) if e.kind in DECISION_EVENTS]
        return Explanation(view, decisions)

    def logs(
        self, job_id: str, replica: int | None = None, tail_bytes: int | None = None
    ) -> list[tuple[int, str]]:
        return logs(self._store, self._backends, job_id, replica, tail_bytes)

    def cancel(self, job_id: str) -> JobView:
        """Mark the job's run cancelled (state, event, usage in one unit), then stop its
        replicas."""
        return cancel(
            self._store,
            self._backends,
            job_id,
            self._clock(),
            self._grace_s,
            fleet=self._fleets.current(),
        )

    def report_checkpoint(self, job_id: str, uri: str | None, saved_at: float | None) -> Run:
        """A checkpoint the job's running attempt reports (``saved_at`` default: now)."""
        return checkpoints.report(self._store, job_id, self._clock(), uri, saved_at)
