"""Work that can never run is told apart from work that must wait (decision 0031)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.feasibility import MAX_REPLICAS, infeasibility
from aiplane.core.fleet import Dataset, Fleet, NodeShape, Pricing, PricingModel, SiteKind
from aiplane.core.instances import replicas_per_node
from aiplane.core.workloads import AcceleratorOption, Constraints, SpotPolicy
from tests.builders import fleet, pool, site, workload

# Two sites: 2 nodes of 8 x H100 in the US cloud, 4 nodes of 4 x A100 on-prem in the EU (an
# elastic pool of 1..4 nodes: its maximum counts).
ELASTIC_A100 = replace(
    pool(site="eu", name="a100", accelerator="A100-80GB", gpus=4, cpus=32, memory_gib=256),
    nodes_min=1,
    nodes_max=4,
)
FLEET = fleet(
    site("us", pools=(pool(site="us", name="h100"),)),
    site("eu", kind=SiteKind.ONPREM, jurisdiction="EU", pools=(ELASTIC_A100,)),
    datasets=(Dataset("eu-data", "eu", 10.0, jurisdiction="EU"),),
)
H100 = (AcceleratorOption("H100-80GB", 8),)


FEASIBLE = [
    pytest.param({}, id="one full node"),
    pytest.param(
        {"constraints": Constraints(max_usd_per_hour=8.0)}, id="a price limit one pool meets"
    ),
    pytest.param({"replicas": 2}, id="a gang filling the whole pool"),
    pytest.param(
        {"accelerator": "A100-80GB", "gpus": 4, "replicas": 4},
        id="a gang that needs the elastic pool at its maximum",
    ),
    pytest.param({"gpus": 0.5, "replicas": 32}, id="fractional shares packed on GPUs"),
    pytest.param(
        {
            "accelerators": (AcceleratorOption("A100-80GB", 1 / 7, mig_profile="1g.10gb"),),
            "replicas": 100,
        },
        id="a MIG slice",
    ),
    pytest.param(
        {"accelerators": (AcceleratorOption("H100-80GB", 16), AcceleratorOption("A100-80GB", 4))},
        id="one of two options fits",
    ),
    pytest.param(
        {"accelerator": "A100-80GB", "gpus": 4, "inputs": ("eu-data",)}, id="EU data on EU capacity"
    ),
]


@pytest.mark.parametrize("kwargs", FEASIBLE)
def test_work_some_pool_could_take_is_feasible(kwargs: dict[str, Any]) -> None:
    assert infeasibility(workload(**kwargs), FLEET) == []


INFEASIBLE = [
    pytest.param(
        {"gpus": 16},
        "resources.accelerators",
        "largest node: 8 x H100-80GB at us/h100",
        id="more GPUs per replica than any node",
    ),
    pytest.param(
        {"accelerator": "B200", "gpus": 1},
        "resources.accelerators",
        "8 x H100-80GB",
        id="an accelerator the fleet lacks",
    ),
    pytest.param(
        {"replicas": 3},
        "replicas",
        "at most 2 replicas of 8 x H100-80GB (at us/h100)",
        id="a gang larger than the fleet",
    ),
    pytest.param(
        {"accelerator": "A100-80GB", "gpus": 4, "replicas": 5},
        "replicas",
        "at most 4 replicas",
        id="a gang larger than the elastic pool at its maximum",
    ),
    pytest.param(
        {"gpus": 0.5, "replicas": 33},
        "replicas",
        "at most 32 replicas",
        id="too many fractional shares",
    ),
    pytest.param({"cpus": 200}, "resources.cpus", "96 CPUs", id="more CPUs than any node"),
    pytest.param(
        {"memory_gib": 5000}, "resources.memory_gib", "1024 GiB", id="more memory than any node"
    ),
    pytest.param(
        {"constraints": Constraints(jurisdictions=("JP",))},
        "constraints",
        "us/h100 (US, cloud, on_demand)",
        id="a jurisdiction no site is in",
    ),
    pytest.param(
        {"spot": SpotPolicy.REQUIRED}, "constraints", "eu/a100", id="spot only, none in the fleet"
    ),
    pytest.param(
        {"inputs": ("eu-data",)}, "constraints", "us/h100", id="EU data but H100s only in the US"
    ),
    pytest.param(
        {"constraints": Constraints(max_usd_per_hour=1.0)},
        "constraints.max_usd_per_hour",
        "at least $8.00/h (at us/h100)",
        id="a price limit under every pool's price",
    ),
    pytest.param(
        {"replicas": MAX_REPLICAS + 1},
        "replicas",
        f"from 1 to {MAX_REPLICAS}",
        id="absurd replica count",
    ),
]


@pytest.mark.parametrize(("kwargs", "location", "allowed"), INFEASIBLE)
def test_work_no_pool_could_ever_take_is_refused_with_the_nearest_offers(
    kwargs: dict[str, Any], location: str, allowed: str
) -> None:
    problems = infeasibility(workload(**kwargs), FLEET)
    assert problems
    by_location = {p.location: p for p in problems}
    assert location in by_location, problems
    assert allowed in (by_location[location].allowed or ""), by_location[location]
    assert by_location[location].given


def test_each_pool_says_why_it_cannot_take_the_work() -> None:
    (problem,) = infeasibility(
        workload(gpus=16), fleet(site(pools=(pool(name="a"), pool(name="b"))))
    )
    assert "s1/a: a replica needs 16 GPUs; nodes have 8" in problem.message
    assert "s1/b: a replica needs 16 GPUs; nodes have 8" in problem.message


def test_a_pool_with_gpus_still_to_detect_is_given_the_benefit_of_the_doubt() -> None:
    auto = replace(pool(), node=NodeShape(None, 0, 8, 16, auto_detect=True))
    assert infeasibility(workload(gpus=64), fleet(site(pools=(auto,)))) == []


def test_busy_capacity_is_not_infeasibility() -> None:
    # Reserved or spot pricing, current load and quota play no part: only the shape does.
    reserved = replace(pool(), pricing=Pricing(PricingModel.RESERVED, 1.0))
    assert infeasibility(workload(replicas=2), fleet(site(pools=(reserved,)))) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"gpus": 8}, 1),
        ({"gpus": 3}, 2),
        ({"gpus": 0.25}, 32),
        ({"gpus": 1, "cpus": 40}, 2),
        ({"accelerator": None, "cpus": 0, "memory_gib": 0}, MAX_REPLICAS),
    ],
)
def test_replicas_per_node(kwargs: dict[str, Any], expected: int) -> None:
    w = workload(**kwargs)
    assert replicas_per_node(w, pool(), w.options()[0]) == expected


def test_an_empty_fleet_refuses_nothing_but_absurd_counts() -> None:
    assert infeasibility(workload(gpus=64), Fleet()) == []
    assert infeasibility(workload(replicas=MAX_REPLICAS + 1), Fleet())[0].location == "replicas"
