"""Decision checks and order, shared by the live applier and the simulator."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.apply import PlaceCheck, Refusal, Refused, ordered
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Release, Wait
from aiplane.core.scheduling.nodes import NodeTable
from aiplane.core.workloads import Constraints
from tests.builders import fleet, pool, site, workload

FLEET = fleet(
    site("us", jurisdiction="US", pools=(pool(site="us", name="p", gpus=8, nodes=2),)),
    site("eu", jurisdiction="EU", pools=(pool(site="eu", name="p", gpus=8, nodes=1),)),
)


def place(run_id: str, pool_key: str, *nodes_gpus: tuple[str, float]) -> Place:
    return Place(
        run_id,
        Placement(
            pool=pool_key,
            site=pool_key.split("/")[0],
            backend="emulated",
            accelerator="H100-80GB",
            assignments=tuple(
                ReplicaAssignment(i, node, gpus, cpus=1, memory_gib=1)
                for i, (node, gpus) in enumerate(nodes_gpus)
            ),
            usd_per_hour=1.0,
            emulated=True,
        ),
    )


def test_preemptions_come_first_and_the_rest_keep_the_policys_order() -> None:
    decisions: list[Decision] = [
        place("a", "us/p", ("us/p/0", 8)),
        Wait("b", "capacity"),
        Preempt("c", "a", "room"),
        Release("us/p", ("us/p/1",), "idle"),
        Preempt("d", "a", "room"),
    ]
    assert [type(d).__name__ for d in ordered(decisions)] == [
        "Preempt",
        "Preempt",
        "Place",
        "Wait",
        "Release",
    ]
    assert [d.run_id for d in ordered(decisions) if isinstance(d, Preempt)] == ["c", "d"]


def test_a_valid_place_passes_and_names_its_option() -> None:
    checked = PlaceCheck(FLEET).check(
        place("a", "us/p", ("us/p/0", 8), ("us/p/1", 8)), workload(replicas=2), NodeTable(FLEET)
    )
    assert not isinstance(checked, Refused) and checked.name == "H100-80GB"


def test_a_partial_gang_is_refused() -> None:
    checked = PlaceCheck(FLEET).check(
        place("a", "us/p", ("us/p/0", 8)), workload(replicas=2), NodeTable(FLEET)
    )
    assert isinstance(checked, Refused) and checked.refusal is Refusal.PARTIAL_GANG


def test_a_pool_the_constraints_forbid_is_refused() -> None:
    eu_only = workload(constraints=Constraints(jurisdictions=("EU",)))
    check = PlaceCheck(FLEET)
    refused = check.check(place("a", "us/p", ("us/p/0", 8)), eu_only, NodeTable(FLEET))
    assert isinstance(refused, Refused) and refused.refusal is Refusal.VIOLATION
    ok = check.check(place("a", "eu/p", ("eu/p/0", 8)), eu_only, NodeTable(FLEET))
    assert not isinstance(ok, Refused)


def test_an_over_allocated_node_or_a_short_replica_is_refused() -> None:
    nodes = NodeTable(FLEET)
    nodes.allocate([ReplicaAssignment(0, "us/p/0", 4)])
    check = PlaceCheck(FLEET)
    full = check.check(place("a", "us/p", ("us/p/0", 8)), workload(), nodes)
    assert isinstance(full, Refused) and full.refusal is Refusal.OVER_ALLOCATION
    assert "over-allocated" in full.detail
    short = check.check(place("b", "us/p", ("us/p/1", 4)), workload(gpus=8), nodes)
    assert isinstance(short, Refused) and short.refusal is Refusal.OVER_ALLOCATION


@pytest.mark.parametrize(
    ("cpus", "memory_gib", "detail"), [(2.0, 1.0, "of 2 CPUs"), (1.0, 4.0, "of 4 GiB")]
)
def test_a_replica_short_of_cpus_or_memory_is_refused(
    cpus: float, memory_gib: float, detail: str
) -> None:
    need = workload(cpus=cpus, memory_gib=memory_gib)
    checked = PlaceCheck(FLEET).check(place("a", "us/p", ("us/p/0", 8)), need, NodeTable(FLEET))
    assert isinstance(checked, Refused) and checked.refusal is Refusal.OVER_ALLOCATION
    assert detail in checked.detail


def test_the_allowed_pools_are_not_shared_with_a_copy_that_has_no_offers() -> None:
    """The memo is keyed on everything screening reads: a copy of a workload whose memory no
    node has must not pass on the strength of the original's check."""
    check = PlaceCheck(FLEET)
    small = workload(memory_gib=1)
    huge = replace(small, memory_gib=10_000)
    assert not isinstance(
        check.check(place("a", "us/p", ("us/p/0", 8)), small, NodeTable(FLEET)), Refused
    )
    decision = place("b", "us/p", ("us/p/0", 8))
    decision = replace(
        decision,
        placement=replace(
            decision.placement,
            assignments=(ReplicaAssignment(0, "us/p/0", 8, cpus=1, memory_gib=10_000),),
        ),
    )
    refused = check.check(decision, huge, NodeTable(FLEET))
    assert isinstance(refused, Refused) and refused.refusal is Refusal.VIOLATION
