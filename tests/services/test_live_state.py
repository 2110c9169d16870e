"""The live scheduling state kept incrementally equals one built afresh from the store.

Writers stamp ``updated_at`` with their own clocks, which lag the scheduler's by up to the
state's overlap, and the state reads in small pages: a read that skipped a run (a late stamp,
a page cut short) would leave the two apart.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.fleet import Fleet
from aiplane.core.runs import ACTIVE, Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.scheduling.inputs import checkpointed, preempted, requeue
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.services.scheduling import LiveState
from aiplane.store.memory import MemoryStore
from tests.builders import fleet, pool, site, workload

FLEET: Fleet = fleet(
    site(
        "s",
        pools=(
            pool(site="s", name="fixed", gpus=4, nodes=2),
            replace(pool(site="s", name="elastic", gpus=2, nodes=3), nodes_min=1),
        ),
    )
)
POOLS = {p.key: p for p in FLEET.pools()}

OVERLAP_S = 30.0
ops = st.lists(
    st.tuples(
        st.sampled_from(["submit", "place", "start", "checkpoint", "finish", "cancel", "preempt"]),
        st.integers(0, 50),
        st.sampled_from([0.5, 1.0, 2.0, 4.0]),
        st.floats(0.0, OVERLAP_S - 1),  # how far the writer's clock lags the scheduler's
    ),
    max_size=40,
)


def _free_spot(snapshot: Snapshot, gpus: float) -> tuple[str, str, tuple[int, ...]] | None:
    for node in snapshot.nodes:
        if gpus < 1:
            shared = [g for g, free in node.shared_gpus if free >= gpus]
            index = shared[:1] or list(node.free_gpu_indices[:1])
            if index and node.free.gpus >= gpus:
                return node.pool, node.id, tuple(index)
        elif len(node.free_gpu_indices) >= gpus:
            return node.pool, node.id, node.free_gpu_indices[: int(gpus)]
    return None


def _step(
    store: MemoryStore, state: LiveState, now: float, op: str, n: int, gpus: float, lag: float
) -> None:
    runs = [run for _, run in store.jobs.page(limit=1000)]
    at = now - lag  # a writer's clock; the scheduler's own writes (place) use ``now``
    if op == "submit":
        job = Job(f"j{n:03d}-{now:.0f}", workload(gpus=gpus), at, "me")
        store.jobs.add(job, Run(f"r{job.id[1:]}", job.id, RunState.PENDING, at, at))
        return
    if not runs:
        return
    run = runs[n % len(runs)]
    job = store.jobs.get(run.job_id)
    need = job.workload.accelerators[0].count
    if op == "place" and run.state is RunState.PENDING:
        spot = _free_spot(state.snapshot(now), need)
        if spot is None:
            return
        pool_key, node, indices = spot
        placement = Placement(
            pool_key,
            "s",
            "emulated",
            "H100-80GB",
            (ReplicaAssignment(0, node, need, indices),),
            1.0,
            True,
        )
        admitted = replace(run.transition(RunState.ADMITTED, now), placement=placement)
        admitted = store.jobs.update_run(admitted, RunState.PENDING)
        state.apply(job, admitted)  # as the applier does
    elif op == "start" and run.state is RunState.ADMITTED:
        store.jobs.update_run(run.transition(RunState.STARTING, at), run.state)
    elif op == "start" and run.state is RunState.STARTING:
        store.jobs.update_run(run.transition(RunState.RUNNING, at), RunState.STARTING)
    elif op == "checkpoint" and run.state is RunState.RUNNING:
        store.jobs.update_run(replace(checkpointed(run, at, "/c"), updated_at=at), RunState.RUNNING)
    elif op == "finish" and run.state is RunState.RUNNING:
        store.jobs.update_run(run.transition(RunState.SUCCEEDED, at), RunState.RUNNING)
    elif op == "cancel" and not run.state.terminal:
        store.jobs.update_run(run.transition(RunState.CANCELLED, at), run.state)
    elif op == "preempt" and run.state in (RunState.STARTING, RunState.RUNNING):
        stopped = preempted(run, now, "for other work")  # the scheduler's write
        stopped = store.jobs.update_run(stopped, run.state)
        store.jobs.update_run(requeue(stopped, job.workload, now, "requeued"), RunState.PREEMPTED)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_incremental_updates_equal_a_fresh_build(
    steps: list[tuple[str, int, float, float]],
) -> None:
    store = MemoryStore()
    state = LiveState(resync_s=1e9, overlap_s=OVERLAP_S, page=3)
    now = 1000.0
    state.load(store, FLEET, now)
    for op, n, gpus, lag in steps:
        now += 10.0
        _step(store, state, now, op, n, gpus, lag)
        state.sync(store, FLEET, now)
        fresh = LiveState(page=2)
        fresh.load(store, FLEET, now)
        assert state.snapshot(now).nodes == fresh.snapshot(now).nodes
        assert state.pending == fresh.pending
        assert state.running == fresh.running
    assert state.full_loads == 1  # every update above was incremental
    holding = [r for _, r in store.jobs.page(limit=1000) if r.state in ACTIVE]
    assert set(state.running) == {r.id for r in holding}
