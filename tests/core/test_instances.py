"""Rented instances billed whole (decision 0039): which instance a replica starts, how many a
gang starts, that a started instance is its run's alone, and how equal offers are ranked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiplane.core.cost.attempts import attempt_rate
from aiplane.core.feasibility import infeasibility
from aiplane.core.fleet import Dataset, Fleet, NodeShape, Pool, Pricing, PricingModel
from aiplane.core.placement import OfferContext, evaluate_offers
from aiplane.core.runs import Placement
from aiplane.core.scheduling.baselines.fifo import Fifo
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.scheduling.decisions import Place
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.inputs import Progress, pending_input
from aiplane.core.scheduling.state import Effects, SchedulerState, apply_decisions
from aiplane.core.workloads import Workload
from tests.builders import fleet, site, workload

A100 = "A100-40GB"


def rented(
    name: str,
    gpus: int,
    usd: float,
    nodes_min: int = 0,
    nodes_max: int = 4,
    site_name: str = "s",
) -> Pool:
    return Pool(
        site=site_name,
        name=name,
        backend="emulated",
        node=NodeShape(A100, gpus, 12.0 * gpus, 85.0 * gpus),
        nodes_min=nodes_min,
        nodes_max=nodes_max,
        pricing=Pricing(PricingModel.ON_DEMAND, usd),
    )


def sizes(running_16: bool = False) -> Fleet:
    """Instances of 1, 2, 4, 8 and 16 GPUs in one region; the larger, the cheaper per GPU."""
    return fleet(
        site(
            "s",
            pools=(
                rented("g1", 1, 4.0),
                rented("g2", 2, 7.0),
                rented("g4", 4, 13.0),
                rented("g8", 8, 24.0),
                rented("g16", 16, 40.0, nodes_min=1 if running_16 else 0),
            ),
        )
    )


def place(f: Fleet, *ws: Workload) -> tuple[SchedulerState, list[Placement]]:
    """One engine cycle over a fresh state of ``f``, applied; the placements in order."""
    state = SchedulerState(f)
    for i, w in enumerate(ws):
        state.put_pending(pending_input(f"r{i}", f"j{i}", w, float(i), 1, Progress()))
    decisions = Engine().decide(state.snapshot(100.0))
    applied = apply_decisions(state, decisions, Effects(), 100.0)
    assert applied.refused == 0
    return state, [d.placement for d in decisions if isinstance(d, Place)]


def one_gpu(**kwargs: Any) -> Workload:
    return workload(gpus=1, accelerator=A100, estimated_hours=2.0, **kwargs)


def test_a_one_gpu_replica_starts_the_one_gpu_instance_though_larger_are_cheaper_per_gpu() -> None:
    _, [p] = place(sizes(), one_gpu())
    assert p.pool == "s/g1"
    assert p.instances == (p.assignments[0].node,)
    assert p.usd_per_hour == 4.0
    chosen = p.explanation["chosen"]
    assert (chosen["billing"], chosen["instances"], chosen["idle_gpus"]) == (
        "whole instances",
        1,
        0.0,
    )


def test_a_running_larger_instance_with_room_takes_it_at_its_share() -> None:
    _, [p] = place(sizes(running_16=True), one_gpu())
    assert p.pool == "s/g16"
    assert p.assignments[0].node == "s/g16/0"
    assert p.instances == ()
    assert p.usd_per_hour == 40.0 / 16
    assert p.explanation["chosen"]["billing"] == "share of running nodes"


def test_fractions_of_larger_instances_are_rejected_with_a_reason() -> None:
    _, rejections = evaluate_offers(one_gpu(), sizes())
    detail = {r.pool: r.detail for r in rejections}
    assert "would rent a whole 8-GPU instance" in detail["s/g8"]
    assert "set pack: true" in detail["s/g8"]


def test_a_three_node_request_starts_three_instances() -> None:
    f = fleet(site("s", pools=(rented("g8", 8, 24.0, nodes_max=4),)))
    _, [p] = place(f, workload(gpus=8, accelerator=A100, replicas=3, cpus=8, memory_gib=64))
    nodes = {a.node for a in p.assignments}
    assert len(nodes) == 3
    assert set(p.instances) == nodes
    assert p.usd_per_hour == 3 * 24.0


def test_packed_replicas_share_one_instance_priced_whole() -> None:
    f = fleet(site("s", pools=(rented("g8", 8, 24.0, nodes_max=4),)))
    w = workload(gpus=1, accelerator=A100, replicas=3, cpus=8, memory_gib=64, pack=True)
    _, [p] = place(f, w)
    assert len({a.node for a in p.assignments}) == 1
    assert len(p.instances) == 1
    assert p.usd_per_hour == 24.0
    assert p.explanation["chosen"]["idle_gpus"] == 5.0


def test_without_pack_one_gpu_replicas_on_eight_gpu_instances_are_refused() -> None:
    f = fleet(site("s", pools=(rented("g8", 8, 24.0, nodes_max=4),)))
    offers, rejections = evaluate_offers(one_gpu(replicas=3), f)
    assert offers == []
    assert "whole 8-GPU instance" in rejections[0].detail


def test_a_started_instance_is_not_joined_by_another_run_and_goes_down_with_it() -> None:
    f = fleet(site("s", pools=(rented("g8", 8, 24.0, nodes_max=2),)))
    w = workload(gpus=1, accelerator=A100, cpus=8, memory_gib=64, pack=True)
    state, [first, second] = place(f, w, w)
    # Each run started an instance of its own though one node had room for both.
    assert first.instances != second.instances
    held = {n.id: n for n in state.snapshot(200.0).nodes}[first.instances[0]]
    assert held.up and held.free.gpus == 0 and held.free_gpu_indices == ()
    # A third run finds both instances held and the pool at its maximum: it waits.
    state.put_pending(pending_input("r9", "j9", w, 150.0, 1, Progress()))
    decisions = Engine().decide(state.snapshot(200.0))
    assert not [d for d in decisions if isinstance(d, Place)]
    _, released = state.finish("r0")
    assert released == 1
    node = {n.id: n for n in state.snapshot(300.0).nodes}[first.instances[0]]
    assert not node.up and node.free.gpus == 8


def test_the_engines_quote_is_the_meters_rate() -> None:
    f = fleet(site("s", pools=(rented("g8", 8, 24.0, nodes_max=4),)))
    w = workload(gpus=8, accelerator=A100, replicas=2, cpus=8, memory_gib=64)
    _, [p] = place(f, w)
    pool = next(iter(f.pools()))
    assert p.usd_per_hour == attempt_rate(pool, p.assignments, p.instances).list_usd_per_hour


def _two_sites(
    pools_a: tuple[Pool, ...] = (rented("p", 8, 24.0, site_name="a"),),
    pools_b: tuple[Pool, ...] = (rented("p", 8, 24.0, site_name="b"),),
    site_a: dict[str, Any] | None = None,
    site_b: dict[str, Any] | None = None,
    datasets: tuple[Dataset, ...] = (),
) -> Fleet:
    return fleet(
        site("a", pools=pools_a, **(site_a or {})),
        site("b", pools=pools_b, **(site_b or {})),
        datasets=datasets,
    )


def test_tie_equal_price_fewer_instances_wins() -> None:
    # Site a: two 4-GPU instances at 12 each; site b: one running 8-GPU node at 24.
    f = _two_sites(
        pools_a=(
            Pool(
                "a",
                "p",
                "emulated",
                NodeShape(A100, 4, 48, 340),
                0,
                4,
                Pricing(PricingModel.ON_DEMAND, 12.0),
            ),
        ),
        pools_b=(rented("p", 8, 24.0, nodes_min=1, nodes_max=1, site_name="b"),),
    )
    w = workload(gpus=4, accelerator=A100, replicas=2, cpus=8, memory_gib=64)
    offers, _ = evaluate_offers(w, f)
    assert [o.cost.usd_per_hour for o in offers] == [24.0, 24.0]
    assert [(o.pool.key, o.instances) for o in offers] == [("b/p", 0), ("a/p", 2)]


def test_tie_then_lower_egress_wins() -> None:
    # a holds the data; b is $1/h cheaper but pays $1 to move it: equal money, one instance
    # each, so the lower egress decides (the old order took the lower hourly price).
    f = _two_sites(
        pools_b=(rented("p", 8, 23.0, site_name="b"),),
        site_a={"egress_usd_per_gb": 1.0},
        datasets=(Dataset("d", "a", 1.0),),
    )
    w = workload(gpus=8, accelerator=A100, cpus=8, memory_gib=64, inputs=("d",))
    w = replace(w, estimated_hours=1.0)
    offers, _ = evaluate_offers(w, f, OfferContext(time_value_usd_per_hour=0.0))
    assert [round(o.cost.score, 6) for o in offers] == [24.0, 24.0]
    assert [o.pool.key for o in offers] == ["a/p", "b/p"]


def test_tie_then_lower_latency_wins() -> None:
    # Site b sorts after a by key; being nearer, it wins the tie.
    f = _two_sites(site_a={"latency_ms": {"eu": 80.0}}, site_b={"latency_ms": {"eu": 20.0}})
    w = workload(gpus=8, accelerator=A100, cpus=8, memory_gib=64)
    offers, _ = evaluate_offers(w, f)
    assert [o.pool.key for o in offers] == ["b/p", "a/p"]


def test_one_gpu_on_a_fleet_of_eight_gpu_instances_is_infeasible_at_submission() -> None:
    f = fleet(site("az", pools=(rented("nd96", 8, 24.0, site_name="az"),)))
    [problem] = infeasibility(one_gpu(), f)
    assert problem.location == "resources.accelerators"
    assert "would rent a whole 8-GPU instance" in problem.message
    assert problem.allowed == "8 x A100-40GB (pool az/nd96)"
    # With pack it is placed on a whole instance, priced whole.
    assert infeasibility(one_gpu(pack=True), f) == []
    _, [p] = place(f, one_gpu(pack=True))
    assert len(p.instances) == 1
    assert p.usd_per_hour == 24.0
    assert p.explanation["chosen"]["idle_gpus"] == 7.0


def test_the_baselines_price_and_hold_instances_the_same_way() -> None:
    f = fleet(site("s", pools=(rented("g8", 8, 24.0, nodes_max=2),)))
    w = workload(gpus=8, accelerator=A100, replicas=2, cpus=8, memory_gib=64)
    for policy in (Fifo(), PriorityBestFit()):
        state = SchedulerState(f)
        state.put_pending(pending_input("r0", "j0", w, 0.0, 1, Progress()))
        decisions = policy.decide(state.snapshot(100.0))
        [p] = [d.placement for d in decisions if isinstance(d, Place)]
        assert len(set(p.instances)) == 2, policy
        assert p.usd_per_hour == 2 * 24.0
        assert apply_decisions(state, decisions, Effects(), 100.0).refused == 0
