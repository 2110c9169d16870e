"""Clouds and regions in placement and at submission (issue #17, decision 0040): a site outside
them is rejected with its cloud or region named; a site, cloud or region no site of the fleet
has is refused by name, at its place in the list."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.feasibility import infeasibility
from aiplane.core.fleet import SiteKind
from aiplane.core.placement import constraint_violation
from aiplane.core.workloads import Constraints
from tests.builders import fleet, pool, site, workload

GCP = replace(site("gcp-us", pools=(pool(site="gcp-us"),)), provider="gcp", region="us-central1")
AZURE = replace(site("az-us", pools=(pool(site="az-us"),)), provider="Azure", region="eastus")
ONPREM = replace(site("fra", kind=SiteKind.ONPREM, pools=(pool(site="fra"),)), region="fra-1")
FLEET = fleet(GCP, AZURE, ONPREM)


def _violation(constraints: Constraints, s: Any) -> str | None:
    return constraint_violation(workload(constraints=constraints), s, s.pools[0], None)


def test_a_site_outside_the_clouds_is_rejected_naming_its_cloud() -> None:
    only = Constraints(clouds=("gcp", "azure"))
    assert _violation(only, GCP) is None
    assert _violation(only, AZURE) is None  # the fleet's "Azure" is the cloud azure
    assert _violation(Constraints(clouds=("gcp",)), AZURE) == (
        "cloud Azure not allowed (allowed clouds: gcp)"
    )
    assert _violation(only, ONPREM) == (
        "site fra (onprem) is in no cloud (allowed clouds: gcp, azure)"
    )


def test_a_site_outside_the_regions_is_rejected_naming_its_region() -> None:
    only = Constraints(regions=("us-central1",))
    assert _violation(only, GCP) is None
    assert _violation(only, AZURE) == "region eastus not allowed (allowed regions: us-central1)"
    both = Constraints(clouds=("azure",), regions=("us-central1",))
    assert _violation(both, GCP) is not None and _violation(both, AZURE) is not None


@pytest.mark.parametrize(
    "constraints",
    [
        Constraints(clouds=("gcp",)),
        Constraints(clouds=("GCP", "azure")),
        Constraints(regions=("eastus",)),
        Constraints(sites=("fra", "gcp-us")),
        Constraints(clouds=("gcp",), regions=("us-central1",), infra="gcp/us-central1"),
        Constraints(regions=("eastus",), infra="*/eastus"),
    ],
)
def test_names_the_fleet_has_are_feasible(constraints: Constraints) -> None:
    assert infeasibility(workload(constraints=constraints), FLEET) == []


@pytest.mark.parametrize(
    ("constraints", "location", "given", "allowed"),
    [
        (Constraints(clouds=("gcp", "aws")), "constraints.clouds[1]", "'aws'", "azure, gcp"),
        (Constraints(regions=("eu-west1",)), "constraints.regions[0]", "'eu-west1'", "eastus"),
        (Constraints(sites=("fra", "nope")), "constraints.sites[1]", "'nope'", "az-us, fra"),
        (
            Constraints(clouds=("aws",), regions=("us-east-1",), infra="aws/us-east-1"),
            "constraints.infra",
            "'aws/us-east-1'",
            "azure, gcp",
        ),
        (
            Constraints(clouds=("gcp",), regions=("eastus",), infra="gcp/eastus"),
            "constraints.infra",
            "'gcp/eastus'",
            "gcp/us-central1",
        ),
        (
            Constraints(regions=("us-east-1",), infra="*/us-east-1"),
            "constraints.infra",
            "'*/us-east-1'",
            "azure/eastus, gcp/us-central1",
        ),
    ],
)
def test_a_name_no_site_has_is_refused_at_its_place(
    constraints: Constraints, location: str, given: str, allowed: str
) -> None:
    # Even a known name beside it does not let the unknown one pass unnoticed.
    (problem,) = infeasibility(workload(constraints=constraints), FLEET)
    assert problem.location == location
    assert problem.given == given
    assert allowed in (problem.allowed or ""), problem


def test_the_names_allowed_are_bounded() -> None:
    many = fleet(*(replace(site(f"s{i:02}"), provider=f"c{i:02}") for i in range(40)))
    (problem,) = infeasibility(workload(constraints=Constraints(clouds=("gcp",))), many)
    assert problem.allowed is not None
    assert problem.allowed.startswith("c00, c01, ") and problem.allowed.endswith(", and 28 more")


def test_known_names_that_no_pool_meets_together_are_refused_per_pool() -> None:
    # Each name is the fleet's, but no site is in gcp and eastus at once.
    c = Constraints(clouds=("gcp",), regions=("eastus",))
    (problem,) = infeasibility(workload(constraints=c), FLEET)
    assert problem.location == "constraints"
    assert "gcp-us/p1: region us-central1 not allowed" in problem.message
    assert "clouds=['gcp']" in (problem.given or "")
    assert "gcp-us/p1 (US, cloud, on_demand) in gcp/us-central1" in (problem.allowed or "")
