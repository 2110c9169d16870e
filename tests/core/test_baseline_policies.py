"""Baseline policies for comparisons: FIFO, SJF (oracle), 2D-LAS; and their shared packing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.fleet import Fleet
from aiplane.core.resources import Resources
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.baselines.fifo import Fifo
from aiplane.core.scheduling.baselines.las import LasSettings, TwoDimensionalLas
from aiplane.core.scheduling.baselines.placer import CycleCapacity, OfferCache, Option
from aiplane.core.scheduling.baselines.sjf import ShortestJobFirst
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Wait
from aiplane.core.scheduling.packing import FreeNode, pack_gang
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, RunningRun, Snapshot
from aiplane.core.workloads import Constraints, Workload
from tests.builders import fleet, pool, site, workload


def nodes(f: Fleet, used: dict[str, float] | None = None) -> tuple[NodeState, ...]:
    out = []
    for p in f.pools():
        for node_id in p.node_ids():
            taken = (used or {}).get(node_id, 0.0)
            out.append(
                NodeState(node_id, p.key, p.node.capacity - Resources(gpus=taken),
                          tuple(range(int(taken), p.node.gpus)))
            )  # fmt: skip
    return tuple(out)


def pending(name: str, w: Workload, at: float, attained: float = 0.0) -> PendingRun:
    return PendingRun(name, name, w, submitted_at=at, attained_gpu_s=attained)


def running(name: str, w: Workload, node: str, gpus: float, at: float, started: float,
            attained: float = 0.0) -> RunningRun:  # fmt: skip
    assignment = ReplicaAssignment(0, node, gpus, tuple(range(int(gpus))), w.cpus, w.memory_gib)
    placement = Placement("s1/p1", "s1", "emulated", "H100-80GB", (assignment,), 1.0, True)
    return RunningRun(name, name, w, placement, at, started, attained_gpu_s=attained)


def placed(decisions: list[Decision]) -> list[str]:
    return [d.run_id for d in decisions if isinstance(d, Place)]


def test_fifo_head_blocks_the_queue() -> None:
    f = fleet()  # 2 nodes x 8 H100
    snap = Snapshot(f, nodes(f, {"s1/p1/0": 4}), (
        pending("big", workload(gpus=8, replicas=2), at=1),
        pending("small", workload(gpus=1), at=2),
    ), now=10)  # fmt: skip
    decisions = Fifo().decide(snap)
    assert placed(decisions) == []
    assert [d.run_id for d in decisions if isinstance(d, Wait)] == ["big"]


def test_fifo_skips_what_no_pool_can_ever_take() -> None:
    f = fleet()
    never = workload(gpus=1, constraints=Constraints(jurisdictions=("EU",)))
    snap = Snapshot(f, nodes(f), (
        pending("eu-only", never, at=1), pending("a", workload(gpus=8), at=2),
        pending("b", workload(gpus=8), at=3), pending("c", workload(gpus=1), at=4),
    ), now=10)  # fmt: skip
    assert placed(Fifo().decide(snap)) == ["a", "b"]


def test_sjf_takes_the_shortest_estimate_and_backfills_what_fits() -> None:
    f = fleet()
    snap = Snapshot(f, nodes(f, {"s1/p1/0": 8, "s1/p1/1": 6}), (
        pending("long", workload(gpus=2, estimated_hours=9), at=1),
        pending("short", workload(gpus=2, estimated_hours=1), at=2),
        pending("huge", workload(gpus=8, estimated_hours=0.5), at=3),
        pending("unknown", workload(gpus=1), at=0),
    ), now=10)  # fmt: skip
    assert placed(ShortestJobFirst().decide(snap)) == ["short"]


def test_las_orders_by_attained_service_queue_then_fifo() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    las = TwoDimensionalLas(LasSettings(threshold_gpu_s=1000, promote_knob=0))
    snap = Snapshot(f, nodes(f, {"s1/p1/0": 6}), (
        pending("old-but-served", workload(gpus=1), at=1, attained=5000),
        pending("new", workload(gpus=1), at=5),
        pending("newer", workload(gpus=1), at=6),
    ), now=10)  # fmt: skip
    assert placed(las.decide(snap)) == ["new", "newer"]


def test_las_preempts_the_latest_low_queue_job_for_a_high_queue_job() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    las = TwoDimensionalLas(LasSettings(threshold_gpu_s=1000, promote_knob=0))
    w4 = workload(gpus=4)
    snap = Snapshot(
        f, nodes(f, {"s1/p1/0": 8}),
        (pending("fresh", w4, at=100),),
        now=1000,
        running=(running("early", w4, "s1/p1/0", 4, at=0, started=0),
                 running("late", w4, "s1/p1/0", 4, at=50, started=50)),
    )  # fmt: skip
    decisions = las.decide(snap)
    preempts = [d for d in decisions if isinstance(d, Preempt)]
    assert [(p.run_id, p.for_run_id) for p in preempts] == [("late", "fresh")]
    assert placed(decisions) == ["fresh"]


def test_las_never_preempts_within_a_queue() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    las = TwoDimensionalLas(LasSettings(threshold_gpu_s=1_000_000))
    w8 = workload(gpus=8)
    snap = Snapshot(f, nodes(f, {"s1/p1/0": 8}), (pending("fresh", w8, at=100),), now=1000,
                    running=(running("busy", w8, "s1/p1/0", 8, at=0, started=0),))  # fmt: skip
    assert las.decide(snap) == []


def test_las_promotes_a_starving_job() -> None:
    las = TwoDimensionalLas(LasSettings(threshold_gpu_s=1000, promote_knob=2))
    w = workload(gpus=1)
    starving = pending("s", w, at=0, attained=2000)  # ran 2000 s, waited 10,000 - 2000
    assert las.queue(starving, now=10_000) == 0
    assert las.queue(starving, now=5000) == 1


@settings(max_examples=200, deadline=None)
@given(
    free=st.lists(st.integers(0, 8), min_size=1, max_size=12),
    gpus=st.sampled_from([1, 2, 3, 4, 8]),
    replicas=st.integers(1, 4),
)
def test_cycle_capacity_packs_exactly_like_pack_gang(
    free: list[int], gpus: int, replicas: int
) -> None:
    """The copy-on-write view hands pack_gang only the best few nodes; the result must be
    the one pack_gang gives over the whole pool."""
    f = fleet(site(pools=(pool(nodes=len(free)),)))
    states = nodes(f, {f"s1/p1/{i}": 8 - g for i, g in enumerate(free)})
    need = Resources(float(gpus), 1.0, 1.0)
    offers = OfferCache().options(workload(gpus=gpus, replicas=replicas), f)
    option = Option(offers[0].offer, "s1/p1", need, 1.0)
    ours = CycleCapacity(Snapshot(f, states, (), now=0), frozenset()).pack(option, replicas)
    everything = [FreeNode(n.id, n.free, list(n.free_gpu_indices)) for n in states]
    assert ours == pack_gang(everything, need, replicas)
