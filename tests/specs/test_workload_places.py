"""Constraints by cloud and region in ``workload.yaml`` (issue #17, decision 0040): ``clouds``,
``regions`` and SkyPilot's ``infra``; an empty constraint list is refused, not "no limit"."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.codec import workload_from_dict, workload_to_dict
from aiplane.specs import workload_from_document

from .conftest import problems_of


def convert(**constraints: Any) -> Any:
    document = {"name": "w", "team": "t", "kind": "train", "run": "true"}
    return workload_from_document({**document, "constraints": constraints}, "w.yaml")


@pytest.mark.parametrize(
    ("constraints", "clouds", "regions"),
    [
        ({"clouds": ["GCP", "azure"]}, ("gcp", "azure"), ()),
        ({"regions": ["us-central1", "eastus"]}, (), ("us-central1", "eastus")),
        ({"clouds": ["gcp"], "regions": ["us-central1"]}, ("gcp",), ("us-central1",)),
        ({"infra": "gcp/us-central1"}, ("gcp",), ("us-central1",)),
        ({"infra": "AWS"}, ("aws",), ()),
        ({"infra": "*/us-east-1"}, (), ("us-east-1",)),
        ({"infra": "*"}, (), ()),
    ],
)
def test_clouds_regions_and_infra(
    constraints: dict[str, Any], clouds: tuple[str, ...], regions: tuple[str, ...]
) -> None:
    c = convert(**constraints).constraints
    assert (c.clouds, c.regions) == (clouds, regions)
    assert c.infra == constraints.get("infra")


@pytest.mark.parametrize("field", ["jurisdictions", "site_kinds", "sites", "clouds", "regions"])
def test_an_empty_list_is_refused_not_read_as_no_limit(field: str) -> None:
    (problem,) = problems_of(lambda: convert(**{field: []}))
    assert problem.location == f"w.yaml: constraints.{field}"
    assert "empty list" in problem.message and "not 'no limit'" in problem.message
    assert problem.given == "[]"
    assert "leave the field out for no limit" in (problem.allowed or "")


def test_absent_lists_mean_no_limit_and_stored_empty_tuples_still_load() -> None:
    c = convert().constraints
    assert (c.jurisdictions, c.site_kinds, c.sites, c.clouds, c.regions) == ((),) * 5
    stored = workload_to_dict(convert(infra="gcp/us-central1"))
    assert workload_from_dict(stored) == convert(infra="gcp/us-central1")
    # A workload stored before clouds, regions and infra existed: empty is any, as before.
    for key in ("clouds", "regions", "infra"):
        del stored["constraints"][key]
    stored["constraints"]["sites"] = []
    old = workload_from_dict(stored).constraints
    assert (old.sites, old.clouds, old.regions, old.infra) == ((), (), (), None)


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        ({"infra": "gcp/us-central1/us-central1-a"}, "a zone is not supported"),
        ({"infra": "gcp/"}, "a part is empty"),
        ({"infra": "/us-east-1"}, "a part is empty"),
        ({"infra": "gcp", "clouds": ["gcp"]}, "infra together with clouds is ambiguous"),
        (
            {"infra": "gcp/us-central1", "regions": ["us-central1"]},
            "infra together with regions is ambiguous",
        ),
    ],
)
def test_an_infra_that_cannot_be_read_is_refused_at_its_field(
    constraints: dict[str, Any], message: str
) -> None:
    (problem,) = problems_of(lambda: convert(**constraints))
    assert problem.location == "w.yaml: constraints.infra"
    assert message in problem.message
    assert "cloud/region" in (problem.allowed or "") or "infra alone" in (problem.allowed or "")
