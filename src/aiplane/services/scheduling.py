"""One scheduling cycle: keep the live state current, ask the policy, apply its decisions.

The live state (:class:`LiveState`) is the scheduler's view of the store, kept current
incrementally. At start (and after a fleet change, and every ``resync_s`` as a safety net) it
loads the active and pending runs once. Each cycle after that reads only the runs updated since
the previous one (``JobRepository.runs_updated_since``) and applies them to the node table
(``core.scheduling.nodes``) and to the pending and running maps, whose entries come from
``core.scheduling.inputs``, the arithmetic the simulator uses. The applier feeds its own writes
in at once, so the next decision of the same cycle sees them.

Writers stamp ``updated_at`` with their own clock before they commit, so a write can commit
after a read that had already passed its time. Each read therefore reaches back ``overlap_s``
before the previous one; applying a run twice is harmless.

Decisions are checked and ordered by ``core.scheduling.apply``, as in the simulator: a Place
that would split a gang, break the workload's constraints or over-allocate a node is refused,
counted and logged, never written.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from aiplane.backends.base import Backends
from aiplane.core.budgets import BudgetAction
from aiplane.core.errors import ConflictError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import ACTIVE, Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.scheduling.apply import PlaceCheck, Refused, ordered
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Provision, Release, Wait
from aiplane.core.scheduling.inputs import pending_of, requeue, running_of
from aiplane.core.scheduling.nodes import NodeTable
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import (
    PendingRun,
    RunningRun,
    SchedulerSettings,
    Snapshot,
)
from aiplane.services.events import record
from aiplane.services.jobs import stop_processes
from aiplane.store.base import Repositories, Store

log = logging.getLogger("aiplane.scheduling")

MAX_RUNS_PER_READ = 100_000


@dataclass(frozen=True)
class CycleResult:
    placed: int = 0
    waiting: int = 0
    preempted: int = 0
    conflicts: int = 0
    refused: int = 0


@dataclass(frozen=True)
class CycleInputs:
    """What the cost engine and the operator add to the snapshot."""

    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    budget_actions: Mapping[str, frozenset[BudgetAction]] = field(default_factory=dict)
    budget_remaining_usd: Mapping[str, float] = field(default_factory=dict)
    reserved_remaining_gpu_hours: Mapping[str, float] = field(default_factory=dict)


class LiveState:
    def __init__(self, resync_s: float = 300.0, overlap_s: float = 30.0) -> None:
        self.resync_s = resync_s
        self.overlap_s = overlap_s
        self.fleet: Fleet | None = None
        self.nodes = NodeTable(Fleet(sites=()))
        self.check = PlaceCheck(Fleet(sites=()))
        self.pending: dict[str, PendingRun] = {}
        self.running: dict[str, RunningRun] = {}
        self.jobs: dict[str, Job] = {}  # of the runs above, by run id
        self._held: dict[str, Placement] = {}
        self._loaded_at = -math.inf
        self._read_at = -math.inf
        self.full_loads = 0

    def sync(self, store: Store, fleet: Fleet, now: float) -> None:
        """Bring the state up to date with the store at ``now``."""
        if fleet is not self.fleet or now - self._loaded_at >= self.resync_s:
            self.load(store, fleet, now)
            return
        since = self._read_at - self.overlap_s
        self._read_at = now
        for job, run in store.jobs.runs_updated_since(since, limit=MAX_RUNS_PER_READ):
            self.apply(job, run)

    def load(self, store: Store, fleet: Fleet, now: float) -> None:
        """Rebuild from the store: the active and the pending runs, read once each."""
        if fleet is not self.fleet:
            self.check = PlaceCheck(fleet)
        self.fleet = fleet
        self.nodes = NodeTable(fleet)
        self.pending.clear()
        self.running.clear()
        self.jobs.clear()
        self._held.clear()
        self._loaded_at = self._read_at = now
        self.full_loads += 1
        for job, run in store.jobs.page(limit=MAX_RUNS_PER_READ, states=ACTIVE):
            self.apply(job, run)
        for job, run in store.jobs.page(limit=MAX_RUNS_PER_READ, states=[RunState.PENDING]):
            self.apply(job, run)

    def apply(self, job: Job, run: Run) -> None:
        """Take ``run`` as it now is (idempotent: the same run twice changes nothing)."""
        held = self._held.get(run.id)
        placement = run.placement if run.state in ACTIVE else None
        if held is not None and placement != held:
            self.nodes.release(self._known(held.assignments))
            del self._held[run.id]
            held = None
        self.pending.pop(run.id, None)
        self.running.pop(run.id, None)
        self.jobs.pop(run.id, None)
        if run.state is RunState.PENDING:
            self.pending[run.id] = pending_of(job, run)
            self.jobs[run.id] = job
        elif placement is not None:
            self.running[run.id] = running_of(job, run)
            self.jobs[run.id] = job
            if held is None:
                self.nodes.allocate(self._known(placement.assignments))
                self._held[run.id] = placement

    def _known(self, assignments: Iterable[ReplicaAssignment]) -> list[ReplicaAssignment]:
        # A run placed on a node the fleet no longer has holds nothing the scheduler can use.
        return [a for a in assignments if a.node in self.nodes.index]

    def snapshot(self, now: float, inputs: CycleInputs | None = None) -> Snapshot:
        if self.fleet is None:
            raise RuntimeError("LiveState.snapshot() before load(): nothing to snapshot")
        inputs = inputs or CycleInputs()
        return Snapshot(
            fleet=self.fleet,
            nodes=self.nodes.nodes(),
            pending=tuple(self.pending.values()),
            now=now,
            running=tuple(self.running.values()),
            settings=inputs.settings,
            budget_actions=inputs.budget_actions,
            budget_remaining_usd=inputs.budget_remaining_usd,
            reserved_remaining_gpu_hours=inputs.reserved_remaining_gpu_hours,
        )


@dataclass
class _Applier:
    store: Store
    state: LiveState
    backends: Backends | None  # None: nothing to stop (tests without processes)
    now: float
    grace_s: float
    on_run_stopped: Callable[[Repositories, Run, float], None] | None
    placed: int = 0
    waiting: int = 0
    preempted: int = 0
    conflicts: int = 0
    refused: int = 0

    def apply(self, decision: Decision) -> None:
        if isinstance(decision, Place):
            self._place(decision)
        elif isinstance(decision, Wait):
            self._wait(decision)
        elif isinstance(decision, Preempt):
            self._preempt(decision)
        elif isinstance(decision, Provision):
            record(
                self.store, self.now, "pool.provision",
                f"{decision.pool}: bring up {len(decision.nodes)} node(s) "
                f"for {decision.for_run_id}",
                data={"pool": decision.pool, "nodes": list(decision.nodes)},
            )  # fmt: skip
        elif isinstance(decision, Release):
            record(
                self.store, self.now, "pool.release",
                f"{decision.pool}: release {len(decision.nodes)} node(s): {decision.reason}",
                data={"pool": decision.pool, "nodes": list(decision.nodes)},
            )  # fmt: skip

    def _job(self, run: Run) -> Job:
        known = self.state.jobs.get(run.id)
        return known if known is not None else self.store.jobs.get(run.job_id)

    def _place(self, decision: Place) -> None:
        run = self.store.jobs.get_run(decision.run_id)
        if run.state is not RunState.PENDING:
            self.conflicts += 1  # cancelled while we were deciding
            return
        job = self._job(run)
        checked = self.state.check.check(decision, job.workload, self.state.nodes)
        if isinstance(checked, Refused):
            self.refused += 1
            log.warning("refused a decision of the policy: %s", checked)
            return
        admitted = replace(
            run.transition(RunState.ADMITTED, self.now),
            placement=decision.placement,
            reason=None,
        )
        p = decision.placement
        where = p.pool + (" (emulated)" if p.emulated else "")
        try:
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
        except ConflictError:
            self.conflicts += 1
            return
        self.state.apply(job, admitted)
        self.placed += 1

    def _wait(self, decision: Wait) -> None:
        self.waiting += 1
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
            self.conflicts += 1

    def _preempt(self, decision: Preempt) -> None:
        """Stop the victim and put it back in the queue, from where it resumes: its attempt
        is folded into its progress (``core.scheduling.inputs.requeue``).

        The preempted state, its event and the attempt's usage (``on_run_stopped``) are one
        unit of work, committed before the processes are stopped; the run goes back to the
        queue only once they are, so a crash in between never leaves a queued run's old
        processes holding its GPUs."""
        run = self.store.jobs.get_run(decision.run_id)
        if run.state not in (RunState.STARTING, RunState.RUNNING):
            self.conflicts += 1
            return
        stopped = run.transition(RunState.PREEMPTED, self.now, decision.reason)
        lost = f"{decision.lost_gpu_hours:.2f} GPU-h since last checkpoint lost"
        try:
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
        except ConflictError:
            self.conflicts += 1
            return
        if self.backends is not None:
            stop_processes(self.backends, stopped, self.grace_s)
        job = self._job(run)
        requeued = requeue(stopped, job.workload, self.now, "requeued after preemption")
        self.store.jobs.update_run(requeued, expected_state=RunState.PREEMPTED)
        self.state.apply(job, requeued)
        self.preempted += 1


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
) -> CycleResult:
    """Bring ``state`` up to date (a fresh one loads the store), decide and apply.

    Preemptions are applied before everything else, so victims are stopped before the new work
    they make room for is launched.
    """
    state = state if state is not None else LiveState()
    state.sync(store, fleet, now)
    applier = _Applier(store, state, backends, now, grace_s, on_run_stopped)
    for decision in ordered(policy.decide(state.snapshot(now, inputs))):
        applier.apply(decision)
    return CycleResult(
        applier.placed, applier.waiting, applier.preempted, applier.conflicts, applier.refused
    )
