"""The scheduler's state between cycles and the one applier of a policy's decisions.

:class:`SchedulerState` is what both the live control plane and the simulator keep: the node
table, the pending and running runs as the engine sees them (built through ``inputs``), the
snapshot a cycle reads, and the pure transitions an applied decision makes (admit a pending
run with a placement, stop a running one, requeue it with its attempt folded, finish it).

:func:`apply_decisions` walks a policy's decisions in order (``apply.ordered``), refuses what
is stale (the run is no longer pending, or no longer running) or wrong (``apply.PlaceCheck``),
and makes the transitions. What a decision does outside the state is an :class:`Effects`: the
live one persists each decision to the store first (and may find it stale there, a user having
cancelled the run meanwhile: it raises ``ConflictError``), the simulator's schedules the
attempt's end. Every refusal is counted in :class:`Applied` by its ``apply.Refusal``, in both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from aiplane.core.budgets import BudgetAction
from aiplane.core.errors import ConflictError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.apply import PlaceCheck, Refusal, Refused, ordered
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Provision, Release, Wait
from aiplane.core.scheduling.inputs import (
    EndedAttempt,
    Progress,
    fold_attempt,
    option_speed,
    pending_input,
)
from aiplane.core.scheduling.nodes import NodeTable
from aiplane.core.scheduling.reclaim import Reclaimed
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun, SchedulerSettings, Snapshot
from aiplane.core.workloads import AcceleratorOption


@dataclass(frozen=True)
class Stopped:
    """A running run taken off its capacity, with what its attempt left behind."""

    run: RunningRun
    at: float
    ended: EndedAttempt
    released_nodes: int  # idle elastic nodes that went down


class SchedulerState:
    def __init__(
        self,
        fleet: Fleet,
        check: PlaceCheck | None = None,
        reclaimed: Mapping[str, Reclaimed] | None = None,
    ) -> None:
        self.fleet = fleet
        self.nodes = NodeTable(fleet)
        # The check memoises per workload; a state rebuilt for the same fleet may keep it.
        self.check = check if check is not None and check.fleet is fleet else PlaceCheck(fleet)
        self.pending: dict[str, PendingRun] = {}
        self.running: dict[str, RunningRun] = {}
        # Runs preempted to give borrowed quota back, by run id (``reclaim``): only the state
        # knows them (the store does not), so they outlive the run's moves in and out of the
        # queue and a rebuilt state may be given them; forgotten once their hold is over.
        self.reclaimed: dict[str, Reclaimed] = dict(reclaimed or {})

    def snapshot(
        self,
        now: float,
        settings: SchedulerSettings | None = None,
        budget_actions: Mapping[str, frozenset[BudgetAction]] = MappingProxyType({}),
        budget_remaining_usd: Mapping[str, float] = MappingProxyType({}),
        reserved_remaining_gpu_hours: Mapping[str, float] = MappingProxyType({}),
    ) -> Snapshot:
        settings = settings if settings is not None else SchedulerSettings()
        self._forget_reclaims(now, settings.reclaim_min_runtime_s)
        return Snapshot(
            fleet=self.fleet,
            nodes=self.nodes.nodes(),
            pending=tuple(self.pending.values()),
            now=now,
            running=tuple(self.running.values()),
            settings=settings,
            budget_actions=budget_actions,
            budget_remaining_usd=budget_remaining_usd,
            reserved_remaining_gpu_hours=reserved_remaining_gpu_hours,
        )

    def _forget_reclaims(self, now: float, min_runtime_s: float) -> None:
        # The window is a setting of the cycle, so marks are let go where it is known.
        if self.reclaimed:
            over = [k for k, m in self.reclaimed.items() if not m.holds(now, min_runtime_s)]
            for run_id in over:
                del self.reclaimed[run_id]

    def _marked(self, run: PendingRun) -> PendingRun:
        """``run`` with its reclaim mark, if the state holds one for it."""
        mark = self.reclaimed.get(run.run_id)
        return run if mark is None or run.reclaimed == mark else replace(run, reclaimed=mark)

    # -- keeping in step with a source (the live store) ---------------------------------------

    def put_pending(self, run: PendingRun) -> None:
        """``run`` is pending as given (whatever it was before), with the reclaim mark the
        state holds for it: a source's view of the run does not carry one."""
        self.vacate(run.run_id)
        self.pending[run.run_id] = self._marked(run)

    def put_running(self, run: RunningRun) -> None:
        """``run`` holds its placement as given; capacity moves only if the placement did."""
        self.pending.pop(run.run_id, None)
        old = self.running.get(run.run_id)
        if old is None or old.placement != run.placement:
            if old is not None:
                self.nodes.release(*self._known(old.placement))
            self.nodes.allocate(*self._known(run.placement))
        self.running[run.run_id] = run

    def drop(self, run_id: str) -> None:
        """``run_id`` is neither pending nor holding capacity (finished, cancelled, gone)."""
        self.vacate(run_id)
        self.reclaimed.pop(run_id, None)

    def vacate(self, run_id: str) -> None:
        """``run_id`` is neither pending nor holding capacity for now (a victim still
        stopping): unlike :meth:`drop`, its reclaim mark stays."""
        self.pending.pop(run_id, None)
        old = self.running.pop(run_id, None)
        if old is not None:
            self.nodes.release(*self._known(old.placement))

    def _known(self, placement: Placement) -> tuple[list[ReplicaAssignment], list[str]]:
        """The placement's assignments and instances on nodes the fleet still has: a run
        placed on a node the fleet no longer has holds nothing the scheduler can use."""
        index = self.nodes.index
        return (
            [a for a in placement.assignments if a.node in index],
            [n for n in placement.instances if n in index],
        )

    # -- what applied decisions do -----------------------------------------------------------

    def admit(self, run_id: str, placement: Placement, at: float) -> tuple[RunningRun, int]:
        """The pending run starts holding ``placement`` at ``at``; returns its running view
        and how many nodes had to be provisioned."""
        p = self.pending.pop(run_id)
        provisioned = self.nodes.allocate(*self._known(placement))
        running = RunningRun(
            p.run_id,
            p.job_id,
            p.workload,
            placement,
            p.submitted_at,
            at,
            None,
            p.attained_gpu_s,
            p.checkpointed_hours,
            p.attempt,
        )
        self.running[run_id] = running
        return running, provisioned

    def checkpoint(self, run_id: str, at: float | None) -> None:
        """The running run's attempt last saved a checkpoint at ``at``."""
        run = self.running[run_id]
        if run.last_checkpoint_at != at:
            self.running[run_id] = replace(run, last_checkpoint_at=at)

    def stop(self, run_id: str, at: float) -> Stopped:
        """The running run stops at ``at`` before its work is done: its capacity is released
        and its attempt folded (``inputs.fold_attempt``: service in full, work to its last
        checkpoint)."""
        run = self.running.pop(run_id)
        released = self.nodes.release(*self._known(run.placement))
        ended = fold_attempt(
            Progress(run.attained_gpu_s, run.checkpointed_hours),
            started_at=run.started_at,
            ended_at=at,
            gpus=run.gpus,
            speed=option_speed(run.workload, run.placement.accelerator),
            last_checkpoint_at=run.last_checkpoint_at,
        )
        return Stopped(run, at, ended, released)

    def requeue(self, stopped: Stopped, reclaimed_by: str | None = None) -> PendingRun:
        """A stopped run back in the queue for its next attempt, with its folded progress;
        ``reclaimed_by``: the lending team it was stopped for, which marks it (``reclaim``)."""
        r = stopped.run
        if reclaimed_by is not None:
            self.mark_reclaimed(stopped, reclaimed_by)
        pending = self._marked(
            pending_input(
                r.run_id,
                r.job_id,
                r.workload,
                r.submitted_at,
                r.attempt + 1,
                stopped.ended.progress,
            )
        )
        self.pending[r.run_id] = pending
        return pending

    def mark_reclaimed(self, stopped: Stopped, reclaimed_by: str) -> None:
        """Mark the stopped run as reclaimed by the lending team ``reclaimed_by``, whether it
        is requeued now or later (a live victim still stopping comes back by a sync)."""
        where = stopped.run.placement
        self.reclaimed[stopped.run.run_id] = Reclaimed(
            stopped.at, reclaimed_by, where.pool, where.accelerator
        )

    def finish(self, run_id: str) -> tuple[RunningRun, int]:
        """The running run is done; returns it and how many idle elastic nodes went down."""
        self.reclaimed.pop(run_id, None)
        run = self.running.pop(run_id)
        return run, self.nodes.release(*self._known(run.placement))


class Effects:
    """What applying a decision does outside the scheduler state; each hook does nothing here.

    ``place``, ``preempt`` and ``requeue`` come before the state changes, and raise
    ``ConflictError`` when the decision turns out stale there (the live store is the truth; the
    state is only as fresh as its last read): the state then stays as it was, except that a
    victim already stopped whose requeue conflicts (it was cancelled meanwhile) is stopped but
    not queued again. ``placed`` comes after, with the running view the state made.
    """

    def place(self, decision: Place, run: PendingRun) -> None:
        """Persist the placement of pending ``run``."""

    def placed(self, run: RunningRun, option: AcceleratorOption) -> None:
        """``run`` now holds its placement, on ``option``."""

    def preempt(self, decision: Preempt, victim: RunningRun) -> None:
        """Persist and carry out the stop of ``victim``."""

    def requeue(self, stopped: Stopped) -> None:
        """Persist the stopped run's return to the queue (its attempt is in ``stopped``)."""

    def wait(self, decision: Wait) -> None:
        """The run waits, for ``decision.reason``."""

    def provision(self, decision: Provision) -> None:
        """Nodes of an elastic pool come up (the placement that needs them is applied)."""

    def release(self, decision: Release) -> None:
        """Idle nodes of an elastic pool go down."""

    def refuse(self, refused: Refused) -> None:
        """A decision was refused (it is counted in :class:`Applied` too)."""


@dataclass
class Applied:
    """What one cycle's decisions did."""

    placed: int = 0
    preempted: int = 0
    waiting: int = 0
    provisioned_nodes: int = 0
    released_nodes: int = 0
    refusals: Counter[Refusal] = field(default_factory=Counter)

    @property
    def stale(self) -> int:
        """Decisions about runs that had moved on (cancelled, finished) meanwhile."""
        return self.refusals[Refusal.STALE]

    @property
    def refused(self) -> int:
        """Decisions refused as wrong: a partial gang, a forbidden pool, an over-allocation."""
        return sum(n for r, n in self.refusals.items() if r is not Refusal.STALE)


def apply_decisions(
    state: SchedulerState, decisions: Iterable[Decision], effects: Effects, now: float
) -> Applied:
    """Apply ``decisions`` (preemptions first) to ``state`` at ``now``, through ``effects``."""
    out = Applied()
    for d in ordered(decisions):
        if isinstance(d, Wait):
            out.waiting += 1
            effects.wait(d)
        elif isinstance(d, Place):
            refused = _place(state, d, effects, now, out)
            if refused is not None:
                out.refusals[refused.refusal] += 1
                effects.refuse(refused)
        elif isinstance(d, Preempt):
            refused = _preempt(state, d, effects, now, out)
            if refused is not None:
                out.refusals[refused.refusal] += 1
                effects.refuse(refused)
        elif isinstance(d, Provision):
            effects.provision(d)
        elif isinstance(d, Release):
            out.released_nodes += len(d.nodes)
            effects.release(d)
    return out


def _place(
    state: SchedulerState, d: Place, effects: Effects, now: float, out: Applied
) -> Refused | None:
    pending = state.pending.get(d.run_id)
    if pending is None:
        return Refused(d.run_id, Refusal.STALE, "not pending")
    checked = state.check.check(d, pending.workload, state.nodes)
    if isinstance(checked, Refused):
        return checked
    try:
        effects.place(d, pending)
    except ConflictError as e:
        return Refused(d.run_id, Refusal.STALE, str(e))
    running, provisioned = state.admit(d.run_id, d.placement, now)
    out.placed += 1
    out.provisioned_nodes += provisioned
    effects.placed(running, checked)
    return None


def _preempt(
    state: SchedulerState, d: Preempt, effects: Effects, now: float, out: Applied
) -> Refused | None:
    victim = state.running.get(d.run_id)
    if victim is None:
        return Refused(d.run_id, Refusal.STALE, "not running")
    try:
        effects.preempt(d, victim)
    except ConflictError as e:
        return Refused(d.run_id, Refusal.STALE, str(e))
    stopped = state.stop(d.run_id, now)
    out.preempted += 1
    out.released_nodes += stopped.released_nodes
    if d.reclaimed_by is not None:
        # Before the requeue, which may come in a later cycle (a live victim still stopping):
        # the mark must hold when the run comes back to the queue either way.
        state.mark_reclaimed(stopped, d.reclaimed_by)
    try:
        effects.requeue(stopped)
    except ConflictError:
        # Not back in the queue now: it left it meanwhile (a user cancelled it), or, live, it
        # is still stopping or finished first (``services.scheduling.settle``).
        return None
    state.requeue(stopped, d.reclaimed_by)
    return None
