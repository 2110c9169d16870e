"""Submitting, listing, inspecting and cancelling jobs: :class:`JobService`, what the edges
call, each method a whole use case."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from aiplane.backends.base import Backends
from aiplane.core.errors import BackendError, NotFoundError, Problem, SpecError
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
from aiplane.services.types import Explanation, JobView
from aiplane.store.base import Store

log = logging.getLogger("aiplane.jobs")

# The events that say why a run is where it is (or is still waiting).
DECISION_EVENTS = ("run.placed", "run.waiting")


def stop_processes(backends: Backends, run: Run, grace_s: float) -> None:
    """Ask every replica of ``run`` to stop. Each is asked even when another refuses; then a
    BackendError names the ones that did (the executor, the scheduler and a cancel decide
    what a refusal means to them)."""
    if run.placement is None or not run.handles:
        return
    backend = backends.for_placement(run.placement)
    refused = []
    for index, handle in enumerate(run.handles):
        try:
            backend.cancel(handle, grace_s)
        except BackendError as exc:
            refused.append(f"replica {index}: {exc.message}")
    if refused:
        raise BackendError(f"run {run.id}: could not stop " + "; ".join(refused))


def _fit_problems(fleet: Fleet, workload: Workload) -> list[Problem]:
    """What only the fleet can tell about a workload: a known team, known datasets."""
    problems = []
    if fleet.teams and fleet.team(workload.team) is None:
        known = ", ".join(t.name for t in fleet.teams)
        problems.append(Problem("team", "unknown team", repr(workload.team), known))
    for i, name in enumerate(workload.inputs):
        if fleet.dataset(name) is None:
            known = ", ".join(d.name for d in fleet.datasets) or "none declared"
            problems.append(Problem(f"inputs[{i}]", "unknown dataset", repr(name), known))
    return problems


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
        """Check the workload against the fleet in force (known team and datasets, a budget
        that blocks its team or project), queue it (job, run and event in one unit of work)
        and wake the scheduler. Capacity is the scheduler's business: a submission never
        waits for it."""
        now = self._clock()
        fleet = self._fleets.current()
        if fleet is not None:
            problems = _fit_problems(fleet, workload)
            if problems:
                raise SpecError(f"workload {workload.name!r} does not fit the fleet", problems)
            check_submission(self._store, fleet, workload, now, self._budgets)
        job_id = new_id("j-", now)
        job = Job(job_id, workload, now, by)
        run = Run(
            id="r-" + job_id[2:],
            job_id=job_id,
            state=RunState.PENDING,
            created_at=now,
            updated_at=now,
        )
        submitted = Event(
            now, "job.submitted", f"{workload.name} submitted by {by}", job_id, run.id
        )
        with self._store.unit_of_work() as uow:
            uow.jobs.add(job, run)
            uow.events.add(submitted)
        self._wake()
        return JobView(job, run)

    def listing(
        self,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
    ) -> list[JobView]:
        page = self._store.jobs.page(limit=limit, before=before, states=states, team=team)
        return [JobView(job, run) for job, run in page]

    def show(self, job_id: str) -> JobView:
        return JobView(self._store.jobs.get(job_id), self._store.jobs.run_for_job(job_id))

    def events(self, job_id: str, limit: int = 200) -> list[Event]:
        self._store.jobs.get(job_id)
        return self._store.events.recent(job_id=job_id, limit=limit)

    def explain(self, job_id: str) -> Explanation:
        """The job's state and placement, and the scheduler's decisions about it."""
        view = self.show(job_id)
        decisions = [e for e in self.events(job_id) if e.kind in DECISION_EVENTS]
        return Explanation(view, decisions)

    def logs(
        self, job_id: str, replica: int | None = None, tail_bytes: int | None = None
    ) -> list[tuple[int, str]]:
        """Logs of each replica of the job's current run, as (replica, text)."""
        run = self._store.jobs.run_for_job(job_id)
        if run.placement is None or not run.handles:
            return []
        backend = self._backends.for_placement(run.placement)
        out = [
            (index, backend.logs(handle, tail_bytes))
            for index, handle in enumerate(run.handles)
            if replica is None or index == replica
        ]
        if replica is not None and not out:
            raise NotFoundError(
                f"job {job_id} has no replica {replica} (it has {len(run.handles)})"
            )
        return out

    def cancel(self, job_id: str) -> JobView:
        """Cancel a job: mark its run cancelled, stop its replicas, wake the scheduler.

        The new state, its event and the usage of the attempt it ends are one unit of work: a
        failed write leaves the run as it was and raises, so a retry does all of it. Marking
        before stopping means that if this process dies between the two steps, recovery sees
        a cancelled run with live processes and stops them (``Executor.recover``); so does a
        replica that refuses to stop now: the cancel is committed, the refusal is logged.
        """
        now = self._clock()
        fleet = self._fleets.current()
        with self._store.unit_of_work() as uow:
            job = uow.jobs.get(job_id)
            run = uow.jobs.run_for_job(job_id)
            if run.state.terminal:
                return JobView(job, run)
            cancelled = run.transition(RunState.CANCELLED, now, "cancelled by request")
            uow.jobs.update_run(cancelled, expected_state=run.state)
            record(uow, now, "run.state", f"{run.state} -> cancelled (by request)", cancelled)
            record_usage(uow, job, run, now, outcome=RunState.CANCELLED, fleet=fleet)
        try:
            stop_processes(self._backends, cancelled, self._grace_s)
        except BackendError as exc:
            log.warning("cancelled %s; stopping is left to recovery: %s", job_id, exc.message)
        # The capacity it held is free: the next placement need not wait for a tick.
        self._wake()
        return JobView(job, cancelled)

    def report_checkpoint(self, job_id: str, uri: str | None, saved_at: float | None) -> Run:
        """A checkpoint the job's running attempt reports (``saved_at`` default: now)."""
        return checkpoints.report(self._store, job_id, self._clock(), uri, saved_at)
