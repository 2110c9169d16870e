"""One scheduling cycle: snapshot the store, ask the policy, apply its decisions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from aiplane.backends.base import Backends
from aiplane.core.budgets import BudgetAction
from aiplane.core.errors import ConflictError
from aiplane.core.fleet import Fleet
from aiplane.core.resources import Resources
from aiplane.core.runs import ACTIVE, Run, RunState
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Provision, Release, Wait
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import (
    NodeState,
    PendingRun,
    RunningRun,
    SchedulerSettings,
    Snapshot,
)
from aiplane.services.events import record
from aiplane.services.jobs import stop_processes
from aiplane.store.base import Repositories, Store

MAX_PENDING_PER_CYCLE = 100_000


@dataclass(frozen=True)
class CycleResult:
    placed: int = 0
    waiting: int = 0
    preempted: int = 0
    conflicts: int = 0


@dataclass(frozen=True)
class CycleInputs:
    """What the cost engine and the operator add to the snapshot."""

    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    budget_actions: Mapping[str, frozenset[BudgetAction]] = field(default_factory=dict)
    budget_remaining_usd: Mapping[str, float] = field(default_factory=dict)
    reserved_remaining_gpu_hours: Mapping[str, float] = field(default_factory=dict)


def build_snapshot(
    store: Store, fleet: Fleet, now: float, inputs: CycleInputs | None = None
) -> Snapshot:
    inputs = inputs or CycleInputs()
    used: dict[str, Resources] = {}
    used_indices: dict[str, set[int]] = {}
    shares: dict[str, dict[int, float]] = {}
    running: list[RunningRun] = []
    active = store.jobs.page(limit=MAX_PENDING_PER_CYCLE, states=ACTIVE)
    for job, run in active:
        if run.placement is None:
            continue
        for a in run.placement.assignments:
            used[a.node] = used.get(a.node, Resources()) + Resources(a.gpus, a.cpus, a.memory_gib)
            if 0 < a.gpus < 1 and a.gpu_indices:  # a share of one GPU
                node_shares = shares.setdefault(a.node, {})
                node_shares[a.gpu_indices[0]] = node_shares.get(a.gpu_indices[0], 0.0) + a.gpus
            else:
                used_indices.setdefault(a.node, set()).update(a.gpu_indices)
        running.append(
            RunningRun(
                run.id,
                job.id,
                job.workload,
                run.placement,
                job.submitted_at,
                run.started_at or run.updated_at,
            )
        )
    nodes = []
    for pool in fleet.pools():
        capacity = pool.node.capacity
        for i, node_id in enumerate(pool.node_ids()):
            node_shares = shares.get(node_id, {})
            taken = used_indices.get(node_id, set()) | set(node_shares)
            # An elastic pool's nodes beyond its minimum are up only while work runs on them.
            up = not pool.elastic or i < pool.nodes_min or node_id in used
            nodes.append(
                NodeState(
                    id=node_id,
                    pool=pool.key,
                    free=capacity - used.get(node_id, Resources()),
                    free_gpu_indices=tuple(i for i in range(pool.node.gpus) if i not in taken),
                    up=up,
                    shared_gpus=tuple(
                        (gpu, 1.0 - share)
                        for gpu, share in sorted(node_shares.items())
                        if share < 1.0 - 1e-9
                    ),
                )
            )
    queued = store.jobs.page(limit=MAX_PENDING_PER_CYCLE, states=[RunState.PENDING])
    pending = [
        PendingRun(run.id, job.id, job.workload, job.submitted_at, run.attempt)
        for job, run in queued
    ]
    return Snapshot(
        fleet=fleet,
        nodes=tuple(nodes),
        pending=tuple(pending),
        now=now,
        running=tuple(running),
        settings=inputs.settings,
        budget_actions=inputs.budget_actions,
        budget_remaining_usd=inputs.budget_remaining_usd,
        reserved_remaining_gpu_hours=inputs.reserved_remaining_gpu_hours,
    )


@dataclass
class _Applier:
    store: Store
    backends: Backends | None  # None: nothing to stop (tests without processes)
    now: float
    grace_s: float
    on_run_stopped: Callable[[Repositories, Run, float], None] | None
    placed: int = 0
    waiting: int = 0
    preempted: int = 0
    conflicts: int = 0

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

    def _place(self, decision: Place) -> None:
        run = self.store.jobs.get_run(decision.run_id)
        if run.state is not RunState.PENDING:
            self.conflicts += 1  # cancelled while we were deciding
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
        """Stop the victim and put it back in the queue, from where it resumes.

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
                uow.jobs.update_run(stopped, expected_state=run.state)
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
        requeued = stopped.transition(RunState.PENDING, self.now, "requeued after preemption")
        self.store.jobs.update_run(requeued, expected_state=RunState.PREEMPTED)
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
) -> CycleResult:
    """Decide and apply. Preemptions come before the placements they make room for, as the
    policy orders them, so victims are stopped before the new work is launched."""
    snapshot = build_snapshot(store, fleet, now, inputs)
    applier = _Applier(store, backends, now, grace_s, on_run_stopped)
    for decision in policy.decide(snapshot):
        applier.apply(decision)
    return CycleResult(applier.placed, applier.waiting, applier.preempted, applier.conflicts)
