"""One scheduling cycle: snapshot the store, ask the policy, apply its decisions."""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiplane.core.errors import ConflictError
from aiplane.core.fleet import Fleet
from aiplane.core.resources import Resources
from aiplane.core.runs import ACTIVE, RunState
from aiplane.core.scheduling.decisions import Place, Wait
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, Snapshot
from aiplane.services.events import record
from aiplane.store.base import Store

MAX_PENDING_PER_CYCLE = 100_000


@dataclass(frozen=True)
class CycleResult:
    placed: int
    waiting: int
    conflicts: int


def build_snapshot(store: Store, fleet: Fleet, now: float) -> Snapshot:
    used: dict[str, Resources] = {}
    used_indices: dict[str, set[int]] = {}
    for run in store.runs_in_states(ACTIVE):
        if run.placement is None:
            continue
        for a in run.placement.assignments:
            used[a.node] = used.get(a.node, Resources()) + Resources(a.gpus, a.cpus, a.memory_gib)
            used_indices.setdefault(a.node, set()).update(a.gpu_indices)
    nodes = []
    for pool in fleet.pools():
        capacity = pool.node.capacity
        for node_id in pool.node_ids():
            taken = used_indices.get(node_id, set())
            nodes.append(
                NodeState(
                    id=node_id,
                    pool=pool.key,
                    free=capacity - used.get(node_id, Resources()),
                    free_gpu_indices=tuple(i for i in range(pool.node.gpus) if i not in taken),
                )
            )
    # One query for every queued job with its run, rather than one lookup per pending run.
    queued = store.list_jobs(limit=MAX_PENDING_PER_CYCLE, states=[RunState.PENDING])
    pending = [
        PendingRun(run.id, job.id, job.workload, job.submitted_at, run.attempt)
        for job, run in queued
    ]
    return Snapshot(fleet=fleet, nodes=tuple(nodes), pending=tuple(pending), now=now)


def run_cycle(store: Store, fleet: Fleet, policy: SchedulingPolicy, now: float) -> CycleResult:
    snapshot = build_snapshot(store, fleet, now)
    placed = waiting = conflicts = 0
    for decision in policy.decide(snapshot):
        if not isinstance(decision, Place | Wait):
            continue
        run = store.get_run(decision.run_id)
        if run.state is not RunState.PENDING:
            conflicts += 1  # cancelled while we were deciding
            continue
        if isinstance(decision, Place):
            admitted = replace(
                run.transition(RunState.ADMITTED, now, None), placement=decision.placement
            )
            admitted = replace(admitted, reason=None)
            try:
                store.update_run(admitted, expected_state=RunState.PENDING)
            except ConflictError:
                conflicts += 1
                continue
            p = decision.placement
            where = f"{p.pool}" + (" (emulated)" if p.emulated else "")
            record(
                store,
                now,
                "run.placed",
                f"placed on {where} at ${p.usd_per_hour:.2f}/h",
                admitted,
                {"explanation": dict(p.explanation)},
            )
            placed += 1
        elif isinstance(decision, Wait):
            waiting += 1
            if run.reason != decision.reason:
                try:
                    store.update_run(
                        replace(run, reason=decision.reason, updated_at=now),
                        expected_state=RunState.PENDING,
                    )
                except ConflictError:
                    conflicts += 1
                    continue
                record(
                    store,
                    now,
                    "run.waiting",
                    decision.reason,
                    run,
                    {"explanation": dict(decision.explanation)},
                )
    return CycleResult(placed, waiting, conflicts)
