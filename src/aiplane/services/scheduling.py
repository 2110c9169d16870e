"""One scheduling cycle: keep the live state current, ask the policy, apply its decisions.

The scheduler state, the snapshot and the applier are the simulator's
(``core.scheduling.state``); what is live is keeping that state in step with the store and
persisting each decision. :class:`LiveState` is the scheduler's view of the store, kept
current incrementally. At start (and after a fleet change, and every ``resync_s`` as a safety
net) it loads the active and pending runs, page by page. Each cycle after that reads only the
runs updated since the previous read (``JobRepository.runs_updated_since``), oldest first,
until a short page, and puts each into the state as the store now has it (entries built by
``core.scheduling.inputs``). Writers stamp ``updated_at`` with their own clock before they
commit, so a write can commit after a read that had already passed its time; each read
therefore reaches back ``overlap_s`` before the previous one. Putting a run in twice is a no-op.

Decisions go through ``apply_decisions``: the applier's :class:`Effects` here write each one to
the store (compare-and-set on the run's state) before the state changes; a run that moved on
meanwhile (cancelled, finished) makes the decision stale, counted as the simulator counts it.

A preemption is two writes: preempted (with the attempt's usage and event, one unit of work),
then, once the victim's processes were asked to stop (the backend returns at once) and their
replicas report that they ended, its outcome (``settle``): back to pending, or succeeded when
every replica exited 0 before the cancel reached it (its work is done: running it again would
run it twice, decision 0032). A victim still stopping stays preempted, as does one whose cycle
died between the writes; each cycle starts by stopping such runs again (idempotent) and
settling those whose replicas ended. One whose processes cannot be reached at all (the backend
can neither stop nor poll them, e.g. handles outside this control plane's runs directory) is
requeued once it has been preempted for ``grace_s + UNREACHABLE_AFTER_S``, so it is not kept
out of the queue for good; each such failure is logged once per run, not every cycle.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace

from aiplane.backends.base import Backends, ReplicaReport, ReplicaStatus
from aiplane.core.budgets import BudgetAction
from aiplane.core.errors import BackendError, ConflictError, InconsistentSnapshotError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import ACTIVE, Job, Run, RunState
from aiplane.core.scheduling.apply import Refusal, Refused
from aiplane.core.scheduling.decisions import Place, Preempt, Provision, Release, Wait
from aiplane.core.scheduling.inputs import pending_of, preempted, requeue, running_of
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun, SchedulerSettings, Snapshot
from aiplane.core.scheduling.state import (
    Applied,
    Effects,
    SchedulerState,
    Stopped,
    apply_decisions,
)
from aiplane.core.workloads import Workload
from aiplane.services.events import record
from aiplane.services.jobs import stop_processes
from aiplane.store.base import Repositories, Store

log = logging.getLogger("aiplane.scheduling")

# Runs per store read; a sync or load reads as many pages as it takes.
MAX_RUNS_PER_READ = 10_000
REQUEUED = "requeued after preemption"
DONE_BEFORE_PREEMPTION = "finished before its preemption took effect"
UNREACHABLE = "requeued after preemption: its processes could not be reached to stop or poll"
# How long past its stop's grace period a preempted run whose processes can be neither stopped
# nor polled is kept out of the queue before it is requeued anyway.
UNREACHABLE_AFTER_S = 60.0


@dataclass(frozen=True)
class CycleInputs:
    """What the cost engine and the operator add to the snapshot."""

    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    budget_actions: Mapping[str, frozenset[BudgetAction]] = field(default_factory=dict)
    budget_remaining_usd: Mapping[str, float] = field(default_factory=dict)
    reserved_remaining_gpu_hours: Mapping[str, float] = field(default_factory=dict)


class LiveState:
    def __init__(
        self, resync_s: float = 300.0, overlap_s: float = 30.0, page: int = MAX_RUNS_PER_READ
    ) -> None:
        self.resync_s = resync_s
        self.overlap_s = overlap_s
        self.page = page
        self.fleet: Fleet | None = None
        self.state = SchedulerState(Fleet(sites=()))
        self._loaded_at = -math.inf
        self._read_at = -math.inf
        self.full_loads = 0
        # Preempted runs whose backend failure was logged already (once per run, not per
        # cycle), and the last inconsistent-snapshot message written (one event per change).
        self.warned: set[str] = set()
        self.inconsistent: str | None = None

    @property
    def pending(self) -> Mapping[str, PendingRun]:
        return self.state.pending

    @property
    def running(self) -> Mapping[str, RunningRun]:
        return self.state.running

    def sync(self, store: Store, fleet: Fleet, now: float) -> None:
        """Bring the state up to date with the store at ``now``."""
        if fleet is not self.fleet or now - self._loaded_at >= self.resync_s:
            self.load(store, fleet, now)
            return
        since = self._read_at - self.overlap_s
        for job, run in self._updated_since(store, since):
            self.apply(job, run)
        self._read_at = now

    def invalidate(self) -> None:
        """Load the store afresh at the next sync (the state was found inconsistent)."""
        self._loaded_at = -math.inf

    def _updated_since(self, store: Store, since: float) -> Iterator[tuple[Job, Run]]:
        """Every run updated at or after ``since``, a page at a time, oldest first; the cursor
        is (updated_at, run id), the order the store reads in."""
        cursor: tuple[float, str] | None = None
        limit = self.page
        while True:
            rows = store.jobs.runs_updated_since(since, limit=limit)
            fresh = [(j, r) for j, r in rows if cursor is None or (r.updated_at, r.id) > cursor]
            yield from fresh
            if len(rows) < limit:
                return
            if fresh:
                last = rows[-1][1]
                cursor, since = (last.updated_at, last.id), last.updated_at
            else:  # a whole page of one instant, already seen: read further into it
                limit *= 2

    def load(self, store: Store, fleet: Fleet, now: float) -> None:
        """Rebuild from the store: the active and the pending runs, page by page. The reclaim
        marks are the scheduler's own (the store has none): the new state keeps them."""
        self.state = SchedulerState(fleet, self.state.check, self.state.reclaimed)
        self.fleet = fleet
        self._loaded_at = self._read_at = now
        self.full_loads += 1
        for states in (ACTIVE, [RunState.PENDING]):
            for job, run in self._paged(store, states):
                self.apply(job, run)

    def _paged(self, store: Store, states: Collection[RunState]) -> Iterator[tuple[Job, Run]]:
        before: str | None = None
        while True:
            rows = store.jobs.page(limit=self.page, before=before, states=states)
            yield from rows
            if len(rows) < self.page:
                return
            before = rows[-1][0].id

    def apply(self, job: Job, run: Run) -> None:
        """Take ``run`` as it now is (idempotent: the same run twice changes nothing)."""
        if run.state is RunState.PENDING:
            self.state.put_pending(pending_of(job, run))
        elif run.state in ACTIVE and run.placement is not None:
            self.state.put_running(running_of(job, run))
        elif run.state is RunState.PREEMPTED:
            # A victim still stopping: out of the queue and off its nodes, but its reclaim
            # mark must wait for its requeue (``settle``), or it borrows straight back.
            self.state.vacate(run.id)
        else:
            self.state.drop(run.id)

    def snapshot(self, now: float, inputs: CycleInputs | None = None) -> Snapshot:
        if self.fleet is None:
            raise RuntimeError("LiveState.snapshot() before load(): nothing to snapshot")
        inputs = inputs or CycleInputs()
        return self.state.snapshot(
            now,
            inputs.settings,
            inputs.budget_actions,
            inputs.budget_remaining_usd,
            inputs.reserved_remaining_gpu_hours,
        )


@dataclass
class _Persist(Effects):
    """Each decision written to the store before the scheduler state takes it."""

    store: Store
    backends: Backends | None  # None: nothing to stop (tests without processes)
    now: float
    grace_s: float
    on_run_stopped: Callable[[Repositories, Run, float], None] | None
    # Victims between their two writes: the stored preempted run, by run id.
    stopped: dict[str, Run] = field(default_factory=dict)

    def place(self, decision: Place, run: PendingRun) -> None:
        stored = self.store.jobs.get_run(run.run_id)
        if stored.state is not RunState.PENDING:
            raise ConflictError(f"run {run.run_id} is {stored.state}")  # cancelled meanwhile
        admitted = replace(
            stored.transition(RunState.ADMITTED, self.now),
            placement=decision.placement,
            reason=None,
        )
        p = decision.placement
        where = p.pool + (" (emulated)" if p.emulated else "")
        with self.store.unit_of_work() as uow:
            uow.jobs.update_run(admitted, expected_state=RunState.PENDING)
            record(
                uow,
                self.now,
                "run.placed",
                f"placed on {where} at ${p.usd_per_hour:.2f}/h",
                admitted,
                {"explanation": dict(p.explanation)},
            )

    def wait(self, decision: Wait) -> None:
        run = self.store.jobs.get_run(decision.run_id)
        if run.state is not RunState.PENDING or run.reason == decision.reason:
            return  # only a changed reason is worth a write
        try:
            with self.store.unit_of_work() as uow:
                uow.jobs.update_run(
                    replace(run, reason=decision.reason, updated_at=self.now),
                    expected_state=RunState.PENDING,
                )
                record(
                    uow,
                    self.now,
                    "run.waiting",
                    decision.reason,
                    run,
                    {"explanation": dict(decision.explanation)},
                )
        except ConflictError:
            return  # it moved on meanwhile: its reason no longer matters

    def preempt(self, decision: Preempt, victim: RunningRun) -> None:
        """The preempted state, its event and the attempt's usage (``on_run_stopped``) in one
        unit of work; then the victim's processes are asked to stop."""
        run = self.store.jobs.get_run(victim.run_id)
        if run.state not in (RunState.STARTING, RunState.RUNNING):
            raise ConflictError(f"run {run.id} is {run.state}")
        stopped = preempted(run, self.now, decision.reason)
        lost = f"{decision.lost_gpu_hours:.2f} GPU-h since last checkpoint lost"
        with self.store.unit_of_work() as uow:
            stopped = uow.jobs.update_run(stopped, expected_state=run.state)
            if self.on_run_stopped is not None:
                self.on_run_stopped(uow, run, self.now)
            record(
                uow,
                self.now,
                "run.preempted",
                f"{decision.reason}; {lost}",
                stopped,
                {"for_run_id": decision.for_run_id},
            )
        if self.backends is not None:
            stop_processes(self.backends, stopped, self.grace_s)
        self.stopped[run.id] = stopped

    def requeue(self, stopped: Stopped) -> None:
        run = self.stopped.pop(stopped.run.run_id)
        try:
            outcome = settle(self.store, self.backends, run, stopped.run.workload, self.now)
        except ConflictError:
            log.info("preempted run %s left the queue before its requeue", run.id)
            raise
        if outcome is not Settled.REQUEUED:
            # Not (yet) in the queue: the applier keeps it out of the state's pending runs;
            # a later cycle settles a victim still stopping and the sync reads what it wrote.
            raise ConflictError(f"preempted run {run.id} {outcome.value}")

    def provision(self, decision: Provision) -> None:
        record(
            self.store,
            self.now,
            "pool.provision",
            f"{decision.pool}: bring up {len(decision.nodes)} node(s) for {decision.for_run_id}",
            data={"pool": decision.pool, "nodes": list(decision.nodes)},
        )

    def release(self, decision: Release) -> None:
        record(
            self.store,
            self.now,
            "pool.release",
            f"{decision.pool}: release {len(decision.nodes)} node(s): {decision.reason}",
            data={"pool": decision.pool, "nodes": list(decision.nodes)},
        )

    def refuse(self, refused: Refused) -> None:
        if refused.refusal is not Refusal.STALE:
            log.warning("refused a decision of the policy: %s", refused)


def _requeue(
    store: Store, run: Run, workload: Workload, now: float, reason: str = REQUEUED
) -> None:
    """The preempted ``run`` back to pending, its attempt folded (``inputs.requeue``), with
    ``reason``; ConflictError if it is no longer preempted. A reason other than the plain
    requeue's is also recorded as an event: an operator may want to know (an unreachable run's
    processes may still run under another control plane, or in a moved home)."""
    pending = requeue(run, workload, now, reason)
    if reason == REQUEUED:
        store.jobs.update_run(pending, expected_state=RunState.PREEMPTED)
        return
    waited = now - run.updated_at
    message = f"preempted -> pending: {reason} ({waited:.0f} s after its preemption)"
    with store.unit_of_work() as uow:
        stored = uow.jobs.update_run(pending, expected_state=RunState.PREEMPTED)
        record(uow, now, "run.state", message, stored)


class Settled(enum.Enum):
    REQUEUED = "requeued"
    SUCCEEDED = "succeeded: it finished before its preemption took effect"
    STOPPING = "is still stopping"
    UNREACHABLE = "requeued: its processes could not be reached"


def _reports(backends: Backends | None, run: Run, level: int) -> list[ReplicaReport] | None:
    """What the preempted run's replicas report; None when there is nothing to ask (no
    backends, no handles) or the backend cannot answer (logged at ``level``)."""
    if backends is None or run.placement is None or not run.handles:
        return None
    try:
        backend = backends.for_placement(run.placement)
        return [backend.poll(handle) for handle in run.handles]
    except BackendError as exc:
        log.log(level, "cannot poll preempted run %s: %s", run.id, exc.message)
        return None


def settle(
    store: Store,
    backends: Backends | None,
    run: Run,
    workload: Workload,
    now: float,
    stop_delivered: bool = True,
    unreachable_at: float = math.inf,
    level: int = logging.WARNING,
) -> Settled:
    """The outcome of the preempted ``run`` once its replicas ended: succeeded when each exited
    0 before the cancel reached it (``ReplicaReport.cancelled`` is False: an exit 0 after it
    only says how the command took the stop, and a backend that does not say proves nothing),
    else back to pending; still preempted while any replica runs. Without reports (no backend
    to ask) it is requeued once its stop was delivered; when neither its stop nor its poll
    reached it, from ``unreachable_at`` on (``Settled.UNREACHABLE``). ConflictError if it is no
    longer preempted."""
    reports = _reports(backends, run, level)
    if reports is None and not stop_delivered:
        if now < unreachable_at:
            return Settled.STOPPING
        _requeue(store, run, workload, now, UNREACHABLE)
        return Settled.UNREACHABLE
    if reports is not None:
        if any(r.status in (ReplicaStatus.STARTING, ReplicaStatus.RUNNING) for r in reports):
            return Settled.STOPPING
        if all(
            r.status is ReplicaStatus.EXITED and r.exit_code == 0 and r.cancelled is False
            for r in reports
        ):
            done = replace(
                run.transition(RunState.SUCCEEDED, now, DONE_BEFORE_PREEMPTION), exit_code=0
            )
            message = f"preempted -> succeeded: {DONE_BEFORE_PREEMPTION}"
            with store.unit_of_work() as uow:
                stored = uow.jobs.update_run(done, expected_state=RunState.PREEMPTED)
                record(uow, now, "run.state", message, stored)
            return Settled.SUCCEEDED
    _requeue(store, run, workload, now)
    return Settled.REQUEUED


def requeue_stranded(
    store: Store,
    backends: Backends | None,
    now: float,
    grace_s: float = 5.0,
    warned: set[str] | None = None,
) -> int:
    """Settle the runs an earlier cycle preempted but did not requeue (it died between the two
    writes, a backend failed to stop the victim, or the victim was still stopping): each is
    stopped again first (idempotent), so its old processes never hold a queued run's capacity,
    then settled (``settle``) once its replicas ended, or once it has been preempted for
    ``grace_s + UNREACHABLE_AFTER_S`` if they can be neither stopped nor polled. ``warned``
    (the caller's, kept between cycles) holds the runs whose backend failure was logged as a
    warning already: later ones are logged at debug. Returns how many were settled."""
    warned = warned if warned is not None else set()
    still_preempted: set[str] = set()
    settled = 0
    for run in store.jobs.runs_in_states([RunState.PREEMPTED]):
        level = logging.DEBUG if run.id in warned else logging.WARNING
        delivered = True
        if backends is not None:
            try:
                stop_processes(backends, run, grace_s)
            except BackendError as exc:
                # Settled anyway if its replicas report that they ended: nothing is left to stop.
                log.log(level, "cannot stop preempted run %s yet: %s", run.id, exc.message)
                warned.add(run.id)
                delivered = False
        workload = store.jobs.get(run.job_id).workload
        # The preempted write stamped updated_at; nothing writes a preempted run after it.
        unreachable_at = run.updated_at + grace_s + UNREACHABLE_AFTER_S
        try:
            outcome = settle(store, backends, run, workload, now, delivered, unreachable_at, level)
        except ConflictError:
            continue  # cancelled meanwhile
        if outcome is Settled.STOPPING:
            still_preempted.add(run.id)
            continue
        log.warning("preempted run %s, left by an earlier cycle, %s", run.id, outcome.value)
        settled += 1
    warned &= still_preempted  # the others are settled: nothing to warn about again
    return settled


def run_cycle(
    store: Store,
    fleet: Fleet,
    policy: SchedulingPolicy,
    now: float,
    backends: Backends | None = None,
    inputs: CycleInputs | None = None,
    grace_s: float = 5.0,
    on_run_stopped: Callable[[Repositories, Run, float], None] | None = None,
    state: LiveState | None = None,
) -> Applied:
    """Requeue what an earlier cycle left preempted, bring ``state`` up to date (a fresh one
    loads the store), decide and apply.

    Preemptions are applied before everything else, so victims are stopped before the new work
    they make room for is launched.
    """
    state = state if state is not None else LiveState()
    requeue_stranded(store, backends, now, grace_s, state.warned)
    state.sync(store, fleet, now)
    effects = _Persist(store, backends, now, grace_s, on_run_stopped)
    try:
        decisions = policy.decide(state.snapshot(now, inputs))
    except InconsistentSnapshotError as exc:
        # Nothing was decided, so nothing is half applied: skip the cycle, say so (no
        # traceback: it is a fact about the store, not a bug here) and reload next cycle. The
        # same contradiction found again (the last one written) is said once, not each cycle.
        state.invalidate()
        if exc.message != state.inconsistent:
            state.inconsistent = exc.message
            log.warning("scheduling cycle skipped, the state is reloaded: %s", exc.message)
            record(store, now, "scheduler.inconsistent", f"cycle skipped: {exc.message}")
        else:
            log.debug("scheduling cycle skipped again: %s", exc.message)
        return Applied()
    return apply_decisions(state.state, decisions, effects, now)
