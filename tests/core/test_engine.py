"""The scheduling engine, table by table: quotas, preemption, backfill, cost model, ordering."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.budgets import BudgetAction
from aiplane.core.fleet import Dataset, Fleet, NodeShape, PricingModel, Team
from aiplane.core.resources import Resources
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Provision, Release, Wait
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.snapshot import (
    NodeState,
    PendingRun,
    RunningRun,
    SchedulerSettings,
    Snapshot,
)
from aiplane.core.workloads import AcceleratorOption, Workload
from tests.builders import fleet, pool, site, workload

NOW = 10_000.0


def running(
    run_id: str,
    w: Workload,
    nodes: list[str],
    pool_key: str = "s1/p1",
    started_at: float = NOW - 3600,
    checkpoint_at: float | None = None,
) -> RunningRun:
    gpus = w.accelerators[0].count if w.accelerators else 0.0
    assignments = tuple(
        ReplicaAssignment(i, node, gpus, tuple(range(int(gpus))), w.cpus, w.memory_gib)
        for i, node in enumerate(nodes)
    )
    placement = Placement(
        pool=pool_key,
        site=pool_key.split("/")[0],
        backend="emulated",
        accelerator=w.accelerators[0].name if w.accelerators else None,
        assignments=assignments,
        usd_per_hour=1.0,
        emulated=True,
    )
    return RunningRun(
        run_id, "j" + run_id, w, placement, started_at - 10, started_at, checkpoint_at
    )


def snap(
    f: Fleet,
    pending: list[Workload] | None = None,
    run: list[RunningRun] | None = None,
    **kwargs: Any,
) -> Snapshot:
    used: dict[str, float] = {}
    for r in run or []:
        for a in r.placement.assignments:
            used[a.node] = used.get(a.node, 0.0) + a.gpus
    nodes = []
    for p in f.pools():
        for i, node_id in enumerate(p.node_ids()):
            taken = used.get(node_id, 0.0)
            up = not p.elastic or i < p.nodes_min or node_id in used
            nodes.append(
                NodeState(
                    node_id,
                    p.key,
                    p.node.capacity - Resources(gpus=taken),
                    tuple(range(int(taken), p.node.gpus)),
                    up,
                )
            )
    pend = kwargs.pop("pending_runs", None) or tuple(
        PendingRun(f"p{i}", f"jp{i}", w, submitted_at=NOW - 100 + i)
        for i, w in enumerate(pending or [])
    )
    return Snapshot(f, tuple(nodes), tuple(pend), NOW, tuple(run or []), **kwargs)


def by_type(decisions: list[Decision]) -> dict[type, list[Any]]:
    out: dict[type, list[Any]] = {}
    for d in decisions:
        out.setdefault(type(d), []).append(d)
    return out


def placed(decisions: list[Decision]) -> dict[str, Place]:
    return {d.run_id: d for d in decisions if isinstance(d, Place)}


def waits(decisions: list[Decision]) -> dict[str, Wait]:
    return {d.run_id: d for d in decisions if isinstance(d, Wait)}


QUOTA_FLEET = fleet(
    site(pools=(pool(nodes=4),)),
    teams=(
        Team("a", cohort="ml", quota={"H100-80GB": 16}),
        Team("b", cohort="ml", quota={"H100-80GB": 16}, borrowing_limit={"H100-80GB": 8}),
        Team("solo", quota={"H100-80GB": 8}),
    ),
)


def test_a_team_may_borrow_unused_quota_up_to_its_limit() -> None:
    # b: nominal 16 + borrowing limit 8 = 24 GPUs at most, a lends its unused 16.
    ws = [workload(f"b{i}", team="b") for i in range(4)]
    d = Engine().decide(snap(QUOTA_FLEET, ws))
    assert len(placed(d)) == 3
    [blocked] = waits(d).values()
    assert "borrowing limit 8" in blocked.reason


def test_a_team_outside_any_cohort_cannot_exceed_its_quota() -> None:
    d = Engine().decide(snap(QUOTA_FLEET, [workload("x", team="solo"), workload("y", team="solo")]))
    assert len(placed(d)) == 1
    assert "quota" in next(iter(waits(d).values())).reason


def test_lending_limit_caps_what_a_cohort_can_borrow() -> None:
    f = replace(
        QUOTA_FLEET,
        teams=(
            Team("a", cohort="ml", quota={"H100-80GB": 16}, lending_limit={"H100-80GB": 0}),
            Team("b", cohort="ml", quota={"H100-80GB": 16}),
        ),
    )
    d = Engine().decide(snap(f, [workload(f"b{i}", team="b") for i in range(3)]))
    assert len(placed(d)) == 2  # a lends nothing: b stays within its own 16


def test_quota_lent_to_a_borrower_is_reclaimed() -> None:
    # b borrowed a's quota: it runs 32 GPUs (nominal 16). a now needs its own 16.
    borrowed = [
        running(f"b{i}", workload(f"b{i}", team="b", priority=1000), [f"s1/p1/{i}"])
        for i in range(3)
    ]
    b = Team("b", cohort="ml", quota={"H100-80GB": 16})
    f = replace(QUOTA_FLEET, teams=(QUOTA_FLEET.teams[0], b))
    s = snap(f, [workload("a1", team="a", replicas=2, priority=100)], borrowed)
    d = Engine().decide(s)
    preempts = by_type(d).get(Preempt, [])
    assert len(preempts) == 1  # one node free + one reclaimed = the 2-node gang
    assert "reclaims quota lent to b" in preempts[0].reason
    assert "p0" in placed(d)
    # The preemption comes before the placement it makes room for.
    assert d.index(preempts[0]) < d.index(placed(d)["p0"])


def test_priority_preemption_takes_the_victim_that_loses_least_work() -> None:
    f = fleet(site(pools=(pool(nodes=2),)))
    fresh = running("fresh", workload("fresh", priority=100), ["s1/p1/0"], checkpoint_at=NOW - 60)
    stale = running("stale", workload("stale", priority=100), ["s1/p1/1"], checkpoint_at=None)
    d = Engine().decide(snap(f, [workload("urgent", priority=1000)], [fresh, stale]))
    [preempt] = by_type(d)[Preempt]
    assert preempt.run_id == "fresh"  # 1 minute of work lost rather than 1 hour
    assert preempt.lost_gpu_hours == pytest.approx(8 * 60 / 3600)
    assert placed(d)["p0"].placement.explanation["preempted"] == ["fresh"]


def test_equal_priority_does_not_preempt() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    r = running("r", workload("r", priority=500), ["s1/p1/0"])
    d = Engine().decide(snap(f, [workload("w", priority=500)], [r]))
    assert Preempt not in by_type(d)
    assert "capacity" in waits(d)["p0"].reason


def test_preemption_can_be_switched_off() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    r = running("r", workload("r", priority=100), ["s1/p1/0"])
    s = snap(f, [workload("w", priority=1000)], [r], settings=SchedulerSettings(preemption=False))
    assert Preempt not in by_type(Engine().decide(s))


def _backfill_case(small: Workload) -> list[Decision]:
    # Two nodes: one busy for 1 more hour. A 2-node gang waits and reserves both nodes.
    f = fleet(site(pools=(pool(nodes=2),)))
    busy = running(
        "busy",
        workload("busy", estimated_hours=2.0, priority=1000),
        ["s1/p1/0"],
        started_at=NOW - 3600,
    )
    gang = workload("gang", replicas=2, priority=1000)
    pending = (
        PendingRun("gang", "jg", gang, NOW - 50),
        PendingRun("small", "js", small, NOW - 40),
    )
    return Engine().decide(snap(f, run=[busy], pending_runs=pending))


@pytest.mark.parametrize(
    ("small", "starts"),
    [
        (workload("small", priority=100, estimated_hours=0.5), True),  # ends before the gang
        (workload("small", priority=100, estimated_hours=3.0), False),  # would delay it
        (workload("small", priority=100), False),  # no estimate: no backfill
    ],
)
def test_easy_backfill(small: Workload, starts: bool) -> None:
    d = _backfill_case(small)
    assert "nodes reserved" in waits(d)["gang"].reason
    assert ("small" in placed(d)) is starts


def test_heterogeneous_offers_weigh_speed_against_price() -> None:
    h100 = pool(name="h100", usd_per_node_hour=30.0)
    a100 = pool(name="a100", accelerator="A100-80GB", usd_per_node_hour=20.0)
    f = fleet(site(pools=(h100, a100)))
    options = (AcceleratorOption("H100-80GB", 8), AcceleratorOption("A100-80GB", 8, 0.45))
    w = workload("het", accelerators=options, estimated_hours=10.0)
    d = Engine().decide(snap(f, [w]))
    # A100: $20/h but 22.2 h; H100: $30/h for 10 h. Faster wins on cost + time.
    assert placed(d)["p0"].placement.accelerator == "H100-80GB"
    cheap_a100 = replace(a100, pricing=replace(a100.pricing, usd_per_node_hour=5.0))
    f2 = fleet(site(pools=(h100, cheap_a100)))
    assert placed(Engine().decide(snap(f2, [w])))["p0"].placement.accelerator == "A100-80GB"


def test_spot_is_priced_with_expected_rework() -> None:
    spot = pool(name="spot", model=PricingModel.SPOT, usd_per_node_hour=20.0)
    spot = replace(spot, pricing=replace(spot.pricing, interruption_rate_per_hour=0.5))
    ondemand = pool(name="od", usd_per_node_hour=24.0)
    f = fleet(site(pools=(spot, ondemand)))
    never_saves = workload("w", estimated_hours=10.0)
    d = Engine().decide(snap(f, [never_saves]))
    # Without checkpoints each interruption loses the run: 10 h x 0.5/h x 10 h of rework.
    assert placed(d)["p0"].placement.pool == "s1/od"
    saves_often = workload("w", estimated_hours=10.0, checkpoint_minutes=6)
    chosen = placed(Engine().decide(snap(f, [saves_often])))["p0"].placement
    assert chosen.pool == "s1/spot"
    assert chosen.explanation["chosen"]["cost"]["rework_hours"] == pytest.approx(0.5)


def test_reserved_capacity_is_free_until_the_commitment_is_used() -> None:
    reserved = pool(name="res", model=PricingModel.RESERVED, usd_per_node_hour=40.0)
    owned = pool(name="own", model=PricingModel.OWNED, usd_per_node_hour=10.0)
    f = fleet(site(pools=(reserved, owned)))
    w = workload("w", estimated_hours=2.0)
    left = snap(f, [w], reserved_remaining_gpu_hours={"s1/res": 100.0})
    assert placed(Engine().decide(left))["p0"].placement.pool == "s1/res"
    used_up = snap(f, [w], reserved_remaining_gpu_hours={"s1/res": 4.0})
    assert placed(Engine().decide(used_up))["p0"].placement.pool == "s1/own"


def test_budget_limits_and_actions() -> None:
    spot = pool(name="spot", model=PricingModel.SPOT, usd_per_node_hour=30.0)
    od = pool(name="od", usd_per_node_hour=10.0)
    f = fleet(site(pools=(spot, od)))
    w = workload("w", estimated_hours=1.0, team="t")
    routed = snap(f, [w], budget_actions={"t": frozenset({BudgetAction.SPOT_OR_OWNED_ONLY})})
    assert placed(Engine().decide(routed))["p0"].placement.pool == "s1/spot"
    broke = snap(f, [w], budget_remaining_usd={"t": 5.0})
    wait = waits(Engine().decide(broke))["p0"]
    assert wait.reason == "no pool satisfies the workload's constraints"
    assert {r["reason"] for r in wait.explanation["rejected"]} == {"budget"}


def test_lowered_priority_goes_behind_other_teams() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    first = workload("spender", team="t", priority=1000)
    second = workload("other", team="u", priority=500)
    s = snap(f, [first, second], budget_actions={"t": frozenset({BudgetAction.LOWER_PRIORITY})})
    assert list(placed(Engine().decide(s))) == ["p1"]


def test_elastic_pools_provision_and_release() -> None:
    # Owned: a rented pool's gang would start new instances only (decision 0039), never mix
    # an always-up node with one started for it; provisioning is the same either way.
    elastic = replace(pool(nodes=4, model=PricingModel.OWNED), nodes_min=1, nodes_max=4)
    f = fleet(site(pools=(elastic,)))
    d = Engine().decide(snap(f, [workload("w", replicas=2)]))
    [provision] = by_type(d)[Provision]
    # Node 0 is up (the minimum); the gang needs one more.
    assert provision.nodes == ("s1/p1/1",)
    assert placed(d)["p0"].placement.explanation["provisioned"] == ["s1/p1/1"]
    # Nodes 0 and 1 up and idle, node 2 up and busy: the minimum of one is met by node 2.
    s = snap(f, run=[running("r", workload("r"), ["s1/p1/2"])])
    nodes = tuple(replace(n, up=True) if n.id == "s1/p1/1" else n for n in s.nodes)
    [release] = by_type(Engine().decide(replace(s, nodes=nodes)))[Release]
    assert release.nodes == ("s1/p1/0", "s1/p1/1")


def test_drf_serves_the_team_with_the_smaller_share_first() -> None:
    f = fleet(site(pools=(pool(nodes=3),)))
    heavy = running("h", workload("h", team="heavy"), ["s1/p1/0"])
    ws = [workload("h2", team="heavy"), workload("l1", team="light")]
    d = Engine().decide(snap(f, ws, [heavy]))
    order = [x.run_id for x in d if isinstance(x, Place)]
    assert order == ["p1", "p0"]


@pytest.mark.parametrize(("ordering", "first"), [("las", "served-less"), ("fifo", "older")])
def test_ordering_inside_a_team(ordering: str, first: str) -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    older = PendingRun("older", "j1", workload("older"), NOW - 500, attained_gpu_s=9000.0)
    newer = PendingRun("served-less", "j2", workload("newer"), NOW - 100)
    s = snap(f, pending_runs=(older, newer), settings=SchedulerSettings(ordering=ordering))
    assert list(placed(Engine().decide(s))) == [first]


def test_starving_work_jumps_the_queue() -> None:
    f = fleet(site(pools=(pool(nodes=1),)))
    starving = PendingRun("starving", "j1", workload("s"), NOW - 7200, attained_gpu_s=9e9)
    newer = PendingRun("newer", "j2", workload("n"), NOW - 10)
    s = snap(f, pending_runs=(starving, newer), settings=SchedulerSettings(starvation_age_s=3600))
    assert list(placed(Engine().decide(s))) == ["starving"]


def test_eu_data_keeps_work_in_the_eu_even_when_the_us_is_cheaper() -> None:
    eu = site("eu", jurisdiction="EU", pools=(pool(site="eu", usd_per_node_hour=40),))
    us = site(
        "us",
        jurisdiction="US",
        pools=(pool(site="us", usd_per_node_hour=10, model=PricingModel.SPOT),),
    )
    f = fleet(eu, us, datasets=(Dataset("clicks-eu", "eu", 1200, jurisdiction="EU"),))
    d = Engine().decide(snap(f, [workload("ft", inputs=("clicks-eu",), estimated_hours=2)]))
    p = placed(d)["p0"].placement
    assert p.site == "eu"
    [us_rejection] = [r for r in p.explanation["rejected"] if r["pool"] == "us/p1"]
    assert us_rejection["reason"] == "constraint"
    assert "jurisdiction US not allowed" in us_rejection["detail"]
    assert us_rejection["total_usd"] < p.explanation["chosen"]["cost"]["total_usd"]
    assert "cheaper offer(s) rejected (constraint)" in p.explanation["why"]


def test_gangs_stay_in_one_pool_and_use_whole_nodes_first() -> None:
    a = pool(name="a", nodes=1)
    b = pool(name="b", nodes=1)
    f = fleet(site(pools=(a, b)))
    d = Engine().decide(snap(f, [workload("g", replicas=2)]))
    assert "p0" in waits(d)  # one node in each pool: never split across pools
    shape = NodeShape("H100-80GB", 8, 96, 1024)
    assert shape.capacity.gpus == 8


def test_shares_and_mig_slices_pack_onto_one_gpu_and_leave_whole_gpus_whole() -> None:
    from aiplane.specs.shorthand import parse_accelerator

    f = fleet(site(pools=(pool(nodes=1, accelerator="A100-80GB", gpus=2),)))
    slices = [
        workload(f"mig{i}", accelerators=(parse_accelerator("A100-80GB:1g.10gb"),))
        for i in range(7)
    ]
    whole = workload("whole", accelerator="A100-80GB", gpus=1)
    d = Engine().decide(snap(f, [*slices, whole]))
    places = placed(d)
    assert len(places) == 8  # seven 1/7 slices fill one GPU, the other stays whole
    slice_gpus = {places[f"p{i}"].placement.assignments[0].gpu_indices for i in range(7)}
    whole_gpus = places["p7"].placement.assignments[0].gpu_indices
    assert len(slice_gpus) == 1 and slice_gpus != {whole_gpus}
    # One more slice does not fit anywhere.
    more = Engine().decide(snap(f, [*slices, whole, slices[0]]))
    assert "p8" in waits(more)


def test_a_partly_shared_gpu_is_not_handed_out_whole() -> None:
    f = fleet(site(pools=(pool(nodes=1, accelerator="L4", gpus=2),)))
    s = snap(f, [workload("whole", accelerator="L4", gpus=2)])
    # GPU 0 carries a 0.5 share: 1.5 GPUs are free, but not two whole ones.
    node = replace(s.nodes[0], free=Resources(1.5, 96, 1024), free_gpu_indices=(1,),
                   shared_gpus=((0, 0.5),))  # fmt: skip
    d = Engine().decide(replace(s, nodes=(node,)))
    assert "p0" in waits(d)
    half = workload("half", accelerator="L4", gpus=0.5)
    d = Engine().decide(replace(s, nodes=(node,), pending=(PendingRun("h", "jh", half, NOW),)))
    assert placed(d)["h"].placement.assignments[0].gpu_indices == (0,)
