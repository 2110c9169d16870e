"""Priority best fit: priority order, gang all-or-nothing, best fit, cheapest offer, constraints."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.fleet import Dataset, Fleet, PricingModel
from aiplane.core.resources import Resources
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.scheduling.decisions import Decision, Place, Wait
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, Snapshot
from aiplane.core.workloads import Constraints, SpotPolicy, Workload
from tests.builders import fleet, pool, site, workload


def snapshot(f: Fleet, *pending: Workload, used: dict[str, float] | None = None) -> Snapshot:
    nodes = []
    for p in f.pools():
        for node_id in p.node_ids():
            taken = (used or {}).get(node_id, 0.0)
            nodes.append(
                NodeState(
                    node_id,
                    p.key,
                    p.node.capacity - Resources(gpus=taken),
                    tuple(range(int(taken), p.node.gpus)),
                )
            )
    runs = tuple(
        PendingRun(f"r{i}", f"j{i}", w, submitted_at=float(i)) for i, w in enumerate(pending)
    )
    return Snapshot(f, tuple(nodes), runs, now=100.0)


def placed(decisions: list[Decision]) -> dict[str, Place]:
    return {d.run_id: d for d in decisions if isinstance(d, Place)}


def test_cheapest_feasible_offer_wins() -> None:
    f = fleet(
        site("dear", pools=(pool(site="dear", usd_per_node_hour=30),)),
        site("cheap", pools=(pool(site="cheap", usd_per_node_hour=10),)),
    )
    [decision] = PriorityBestFit().decide(snapshot(f, workload()))
    assert isinstance(decision, Place)
    assert decision.placement.site == "cheap"
    assert decision.placement.usd_per_hour == 10
    rejected = decision.placement.explanation["rejected"]
    assert rejected == []  # the dearer offer was feasible, just not needed


def test_gang_is_all_or_nothing() -> None:
    f = fleet(site(pools=(pool(nodes=2),)))
    [decision] = PriorityBestFit().decide(snapshot(f, workload(replicas=3)))
    assert isinstance(decision, Wait)
    assert "capacity" in decision.reason
    [decision] = PriorityBestFit().decide(snapshot(f, workload(replicas=2)))
    assert isinstance(decision, Place)
    assert {a.node for a in decision.placement.assignments} == {"s1/p1/0", "s1/p1/1"}


def test_higher_priority_goes_first() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    low = workload("low", priority=100)
    high = workload("high", priority=1000)
    decisions = PriorityBestFit().decide(snapshot(f, low, high))
    done = placed(decisions)
    assert list(done) == ["r1"]  # high was submitted later but placed first


def test_best_fit_prefers_the_fuller_node() -> None:
    f = fleet(site(pools=(pool(nodes=2),)))
    s = snapshot(f, workload(gpus=2), used={"s1/p1/1": 5})
    [decision] = PriorityBestFit().decide(s)
    assert isinstance(decision, Place)
    assert decision.placement.assignments[0].node == "s1/p1/1"
    assert decision.placement.assignments[0].gpu_indices == (5, 6)


def test_dataset_jurisdiction_binds_the_work_even_when_dearer() -> None:
    eu = site("eu", jurisdiction="EU", pools=(pool(site="eu", usd_per_node_hour=30),))
    us = site("us", jurisdiction="US", pools=(pool(site="us", usd_per_node_hour=10),))
    data = Dataset("clicks-eu", "eu", 1200, jurisdiction="EU")
    f = fleet(eu, us, datasets=(data,))
    [decision] = PriorityBestFit().decide(snapshot(f, workload(inputs=("clicks-eu",))))
    assert isinstance(decision, Place)
    assert decision.placement.site == "eu"
    [rejection] = decision.placement.explanation["rejected"]
    assert rejection["pool"] == "us/p1"
    assert rejection["reason"] == "constraint"
    assert "jurisdiction US not allowed" in rejection["detail"]


def test_egress_counts_against_a_cheaper_remote_site() -> None:
    home = site("home", pools=(pool(site="home", usd_per_node_hour=12),), egress_usd_per_gb=0.1)
    away = site("away", pools=(pool(site="away", usd_per_node_hour=10),))
    data = Dataset("big", "home", 1000)
    f = fleet(home, away, datasets=(data,))
    w = workload(inputs=("big",), estimated_hours=1.0)
    [decision] = PriorityBestFit().decide(snapshot(f, w))
    assert isinstance(decision, Place)
    # away: $10 compute + $100 egress > home: $12 compute.
    assert decision.placement.site == "home"


def test_constraints_reject_with_reasons() -> None:
    spot = pool(name="spot", model=PricingModel.SPOT, usd_per_node_hour=3)
    f = fleet(site(pools=(spot,)))
    w = workload(spot=SpotPolicy.NEVER)
    [decision] = PriorityBestFit().decide(snapshot(f, w))
    assert isinstance(decision, Wait)
    assert decision.reason == "no pool satisfies the workload's constraints"
    assert (
        decision.explanation["rejected"][0]["detail"]
        == "spot capacity not allowed for this workload"
    )
    w2 = workload(constraints=Constraints(max_usd_per_hour=2.0))
    [decision] = PriorityBestFit().decide(snapshot(f, w2))
    assert isinstance(decision, Wait)
    assert decision.explanation["rejected"][0]["reason"] == "price"


def test_cpu_only_work_goes_to_cpu_capacity() -> None:
    cpu = pool(
        name="cpu",
        accelerator=None,
        gpus=0,
        nodes=1,
        cpus=2,
        memory_gib=4,
        usd_per_node_hour=0.1,
        backend="local",
    )
    f = fleet(site(pools=(cpu, pool())))
    w = workload(accelerator=None, cpus=1)
    [decision] = PriorityBestFit().decide(snapshot(f, w))
    assert isinstance(decision, Place)
    assert decision.placement.pool == "s1/cpu"
    assert decision.placement.backend == "local"


@st.composite
def scenario(draw: st.DrawFn) -> Snapshot:
    pools = tuple(
        pool(
            name=f"p{i}",
            nodes=draw(st.integers(1, 4)),
            gpus=draw(st.sampled_from([4, 8])),
            usd_per_node_hour=draw(st.floats(1, 50)),
        )
        for i in range(draw(st.integers(1, 3)))
    )
    f = fleet(site(pools=pools))
    ws = [
        workload(
            f"w{i}",
            gpus=draw(st.sampled_from([1, 2, 4, 8])),
            replicas=draw(st.integers(1, 4)),
            priority=draw(st.integers(0, 3)),
        )
        for i in range(draw(st.integers(1, 12)))
    ]
    return snapshot(f, *ws)


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_never_overallocates_and_never_splits_a_gang(s: Snapshot) -> None:
    decisions = PriorityBestFit().decide(s)
    assert len(decisions) == len(s.pending)
    free = {n.id: n.free.gpus for n in s.nodes}
    indices: dict[str, set[int]] = {n.id: set() for n in s.nodes}
    by_run = {p.run_id: p for p in s.pending}
    for d in decisions:
        if not isinstance(d, Place):
            continue
        assert len(d.placement.assignments) == by_run[d.run_id].workload.replicas
        for a in d.placement.assignments:
            free[a.node] -= a.gpus
            assert not indices[a.node] & set(a.gpu_indices)
            indices[a.node].update(a.gpu_indices)
    assert all(v >= -1e-9 for v in free.values())
    assert PriorityBestFit().decide(s) == decisions  # deterministic


def test_cpu_only_work_does_not_take_gpu_nodes() -> None:
    f = fleet(site(pools=(pool(),)))
    [decision] = PriorityBestFit().decide(snapshot(f, workload(accelerator=None)))
    assert isinstance(decision, Wait)
    assert decision.explanation["rejected"][0]["detail"] == "GPU nodes are kept for GPU work"
