"""Submitting, listing, inspecting and cancelling jobs: :class:`JobService`, what the edges
call, each method a whole use case."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection

from aiplane.backends.base import Backends
from aiplane.core.auth import Action, Caller, Resource
from aiplane.core.errors import BackendError, NotFoundError, Problem, SpecError
from aiplane.core.events import Event
from aiplane.core.feasibility import infeasibility, replica_problems
from aiplane.core.fleet import Fleet
from aiplane.core.idempotency import RequestKey
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.workloads import Workload
from aiplane.services import checkpoints
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.budgets import BudgetCache, check_submission
from aiplane.services.events import record
from aiplane.services.fleet import FleetCache
from aiplane.services.idempotency import Claim, Idempotency, KeyTakenError, checked
from aiplane.services.ids import new_id
from aiplane.services.metering import record_usage
from aiplane.services.scope import readable_teams
from aiplane.services.types import Explanation, JobView, Submission
from aiplane.store.base import Repositories, Store

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


# Where a workload's command may run: every backend this control plane has (local, emulated,
# fake) runs commands on its own machine, so the API server can check the path itself.
WORKDIR_ALLOWED = "an absolute path of an existing directory on the control plane's machine"


def workdir_problems(workload: Workload) -> list[Problem]:
    """A ``workdir`` the command could not run in, found at submission rather than at launch
    (where the run would fail later, or, before decision 0027, silently run elsewhere)."""
    workdir = workload.workdir
    if workdir is None:
        return []
    if not os.path.isabs(workdir):
        # Relative to what? The server's own working directory is nothing the submitter knows.
        return [Problem("workdir", "not an absolute path", repr(workdir), WORKDIR_ALLOWED)]
    if not os.path.isdir(workdir):
        what = "not a directory" if os.path.exists(workdir) else "no such directory"
        return [Problem("workdir", what, repr(workdir), WORKDIR_ALLOWED)]
    return []


# What a submission before any fleet exists is told (decision 0031).
NO_FLEET_PROBLEM = Problem(
    "fleet",
    "none applied yet, so no pool could take the workload",
    None,
    "a fleet, applied with: aiplane fleet apply FILE",
)


def _fit_problems(fleet: Fleet, workload: Workload) -> list[Problem]:
    """What only the fleet can tell about a workload: a known team, known datasets."""
    problems = []
    if fleet.teams and fleet.team(workload.team) is None:
        known = ", ".join(t.name for t in fleet.teams)
        problems.append(Problem("team", "unknown team", repr(workload.team), known))
    for i, ref in enumerate(workload.inputs):
        if fleet.dataset(ref) is None:
            problems.append(_unknown_input(fleet, f"inputs[{i}]", ref))
    return problems


def _unknown_input(fleet: Fleet, location: str, ref: str) -> Problem:
    """An input the fleet does not hold: an unknown dataset, or a version of it not held."""
    name = ref.partition("@")[0]
    held = sorted((d for d in fleet.datasets if d.name == name), key=lambda d: d.version or 0)
    if held:
        versions = ", ".join(d.ref for d in held)
        return Problem(location, f"no such version of dataset {name}", repr(ref), versions)
    known = ", ".join(dict.fromkeys(d.name for d in fleet.datasets)) or "none declared"
    return Problem(location, "unknown dataset", repr(ref), known)


def admissible(
    store: Store, fleets: FleetCache, budgets: BudgetCache, workload: Workload, now: float
) -> Fleet:
    """The fleet in force, once ``workload`` passes every check a submission makes (a workdir
    and replica count it can run with, a fleet applied, known team and datasets, no budget
    that blocks it, some pool that could ever take it); else the submission's own error.
    Shared by a submission and its preview, so that the two cannot refuse differently."""
    problems = workdir_problems(workload) + replica_problems(workload)
    if problems:
        raise SpecError(f"workload {workload.name!r} cannot run here", problems)
    fleet = fleets.current()
    if fleet is None:
        # Without a fleet no pool could take the work: refused like any other work that
        # cannot run, rather than queued with "no scheduling decision recorded yet".
        raise SpecError(
            f"workload {workload.name!r} cannot be submitted: no fleet is applied yet "
            "(apply one first: aiplane fleet apply FILE)",
            [NO_FLEET_PROBLEM],
        )
    problems = _fit_problems(fleet, workload)
    if problems:
        raise SpecError(f"workload {workload.name!r} does not fit the fleet", problems)
    check_submission(store, fleet, workload, now, budgets)
    # Work no pool could ever take is refused now rather than left waiting forever
    # (decision 0031); work that fits some pool at its full size waits as before.
    problems = infeasibility(workload, fleet)
    if problems:
        raise SpecError(f"workload {workload.name!r} can never run on this fleet", problems)
    return fleet


class JobService:
    """Jobs: what ``/api/v1/jobs`` and ``aiplane jobs`` call.

    Every method takes the caller and asks the policy first. A job of a team the caller
    cannot read is answered exactly as a job that does not exist (the same NotFoundError,
    the same message); listings return the caller's teams' jobs only. Each mutation records
    its audit entry in the unit of work that makes it."""

    def __init__(
        self,
        store: Store,
        fleets: FleetCache,
        budgets: BudgetCache,
        backends: Backends,
        clock: Callable[[], float],
        wake: Callable[[], None],
        cancel_grace_s: float,
        *,
        access: Access,
        audit: AuditLog,
        pin: Callable[[Caller, Workload], Workload] | None = None,
    ) -> None:
        self._access = access
        self._audit = audit
        # The registry's inputs and model pinned to the versions they mean at submission.
        self._pin = pin
        self._store = store
        self._fleets = fleets
        self._budgets = budgets
        self._backends = backends
        self._clock = clock
        self._wake = wake
        self._grace_s = cancel_grace_s
        self._keys = Idempotency(store, clock)

    def _job(self, caller: Caller, action: Action, job_id: str) -> Job:
        """The job, once the policy allows ``action`` on it (else a refusal, audited)."""
        job = self._store.jobs.get(job_id)
        self._access.check(caller, action, Resource("job", job.id, team=job.workload.team))
        return job

    def submit(self, caller: Caller, workload: Workload, *, claim: Claim | None = None) -> JobView:
        """Check the workload against the fleet in force (one must be applied; known team and
        datasets, some pool that could ever take it, a budget that blocks its team or
        project), queue it (job, run and event in one unit of work) and wake the scheduler.
        Capacity is the scheduler's business: a submission never waits for it.
        ``submitted_by`` is the caller's name. ``claim`` (from :meth:`submit_with_key`) claims
        an idempotency key in the same unit."""
        self._access.check(caller, Action.JOB_SUBMIT, Resource("job", team=workload.team))
        if self._pin is not None:
            workload = self._pin(caller, workload)
        by = caller.name
        now = self._clock()
        admissible(self._store, self._fleets, self._budgets, workload, now)
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
            if claim is not None:
                # The unit's first write: a claim racing it waits here, before any other.
                claim(uow, job_id, now)
            uow.jobs.add(job, run)
            uow.events.add(submitted)
            self._audit.record(
                uow,
                caller,
                str(Action.JOB_SUBMIT),
                f"job/{job_id}",
                team=workload.team,
                detail={"name": workload.name},
            )
        self._wake()
        return JobView(job, run)

    def submit_with_key(
        self, caller: Caller, workload: Workload, request: RequestKey
    ) -> Submission:
        """:meth:`submit`, at most once per caller and idempotency key (decision 0034): a
        request the key answers already (same body) gets the job it created, as it is now; a
        different body with the key is a SpecError (422); a request with the key still being
        processed, a ConflictError (409). The checks of a new submission are not run again for
        a replay: the work was accepted once."""
        self._access.check(caller, Action.JOB_SUBMIT, Resource("job", team=workload.team))
        with self._keys.in_flight(caller, request):
            earlier = self._keys.earlier(caller, request, self._clock())
            if earlier is None:
                try:
                    view = self.submit(caller, workload, claim=self._keys.claim(caller, request))
                except KeyTakenError as taken:
                    # Another process stored the key first (its unit committed as ours waited).
                    earlier = checked(taken.record, request)
                else:
                    self._keys.purge_due()
                    return Submission(view, replayed=False)
        job_id = earlier.job_id
        return Submission(
            JobView(self._store.jobs.get(job_id), self._store.jobs.run_for_job(job_id)),
            replayed=True,
        )

    def listing(
        self,
        caller: Caller,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
    ) -> list[JobView]:
        teams = readable_teams(self._access, caller, Action.JOB_LIST, team)
        if teams is not None and not teams:
            return []
        page = self._store.jobs.page(limit=limit, before=before, states=states, teams=teams)
        return [JobView(job, run) for job, run in page]

    def show(self, caller: Caller, job_id: str) -> JobView:
        job = self._job(caller, Action.JOB_READ, job_id)
        return JobView(job, self._store.jobs.run_for_job(job_id))

    def events(self, caller: Caller, job_id: str, limit: int = 200) -> list[Event]:
        self._job(caller, Action.JOB_READ, job_id)
        return self._store.events.recent(job_id=job_id, limit=limit)

    def explain(self, caller: Caller, job_id: str) -> Explanation:
        """The job's state and placement, and the scheduler's decisions about it."""
        view = self.show(caller, job_id)
        events = self._store.events.recent(job_id=job_id, limit=200)
        decisions = [e for e in events if e.kind in DECISION_EVENTS]
        return Explanation(view, decisions)

    def logs(
        self,
        caller: Caller,
        job_id: str,
        replica: int | None = None,
        tail_bytes: int | None = None,
    ) -> list[tuple[int, str]]:
        """Logs of each replica of the job's current run, as (replica, text)."""
        self._job(caller, Action.JOB_LOGS, job_id)
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

    def cancel(self, caller: Caller, job_id: str) -> JobView:
        """Cancel a job: mark its run cancelled, stop its replicas, wake the scheduler.

        The new state, its event and the usage of the attempt it ends are one unit of work: a
        failed write leaves the run as it was and raises, so a retry does all of it. Marking
        before stopping means that if this process dies between the two steps, recovery sees
        a cancelled run with live processes and stops them (``Executor.recover``); so does a
        replica that refuses to stop now: the cancel is committed, the refusal is logged.
        """
        self._job(caller, Action.JOB_CANCEL, job_id)
        now = self._clock()
        fleet = self._fleets.current()
        with self._store.unit_of_work() as uow:
            job = uow.jobs.get(job_id)
            run = uow.jobs.run_for_job(job_id)
            if not run.state.terminal:
                cancelled = run.transition(RunState.CANCELLED, now, "cancelled by request")
                uow.jobs.update_run(cancelled, expected_state=run.state)
                record(uow, now, "run.state", f"{run.state} -> cancelled (by request)", cancelled)
                record_usage(uow, job, run, now, outcome=RunState.CANCELLED, fleet=fleet)
            # The unit's last write (decision 0025): the append's lock is taken after the run's
            # row, in the order the executor's run end takes them, so the two cannot deadlock.
            self._audit.record(
                uow,
                caller,
                str(Action.JOB_CANCEL),
                f"job/{job_id}",
                team=job.workload.team,
                detail={"from": str(run.state)},
            )
            if run.state.terminal:
                return JobView(job, run)
        try:
            stop_processes(self._backends, cancelled, self._grace_s)
        except BackendError as exc:
            log.warning("cancelled %s; stopping is left to recovery: %s", job_id, exc.message)
        # The capacity it held is free: the next placement need not wait for a tick.
        self._wake()
        return JobView(job, cancelled)

    def report_checkpoint(
        self, caller: Caller, job_id: str, uri: str | None, saved_at: float | None
    ) -> Run:
        """A checkpoint the job's running attempt reports (``saved_at`` default: now)."""
        job = self._job(caller, Action.JOB_CHECKPOINT, job_id)
        team = job.workload.team
        audited = []

        def audit(uow: Repositories, run: Run) -> None:
            audited.append(run.id)
            detail = {"uri": uri, "run": run.id, "recorded": True}
            self._audit.record(
                uow, caller, str(Action.JOB_CHECKPOINT), f"job/{job_id}", team=team, detail=detail
            )

        run = checkpoints.report(self._store, job_id, self._clock(), uri, saved_at, audit=audit)
        if not audited:
            # Older than the one recorded (or an earlier attempt's): nothing changed, but the
            # call is on the record all the same.
            detail = {"uri": uri, "run": run.id, "recorded": False}
            self._audit.record_now(
                caller,
                str(Action.JOB_CHECKPOINT),
                f"job/{job_id}",
                outcome="ok",
                team=team,
                detail=detail,
            )
        return run
