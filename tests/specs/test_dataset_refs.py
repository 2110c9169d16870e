"""Dataset versions and replicas in the fleet spec, dataset references in a workload's inputs."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.errors import Problem
from aiplane.specs import fleet_from_document, workload_from_document
from aiplane.specs.fleet_export import fleet_to_document

from .conftest import example, problems_of

SITES = "onprem-local, gcp-europe-west4, gcp-us-central1, edge-retail-berlin"


def versioned_fleet() -> dict[str, Any]:
    document = example("fleet-hybrid.yaml")
    document["datasets"] = [
        {"name": "clicks-eu", "site": "onprem-local", "size_gb": 1200, "jurisdiction": "EU"},
        {
            "name": "clicks-eu",
            "version": 3,
            "site": "onprem-local",
            "size_gb": 1300,
            "jurisdiction": "EU",
            "replicas": ["gcp-europe-west4"],
        },
        {"name": "clicks-eu", "version": 2, "site": "onprem-local", "size_gb": 1250},
    ]
    return document


def test_versions_and_replicas_are_read() -> None:
    fleet = fleet_from_document(versioned_fleet(), "fleet.yaml")
    three = fleet.dataset("clicks-eu@3")
    assert three is not None
    assert (three.version, three.size_gb) == (3, 1300)
    assert three.replicas == ("onprem-local", "gcp-europe-west4")
    two = fleet.dataset("clicks-eu@2")
    assert two is not None and two.replicas == ("onprem-local",)
    # A bare name and @latest: the newest version held; the unversioned one is the oldest.
    assert fleet.dataset("clicks-eu") == three
    assert fleet.dataset("clicks-eu@latest") == three
    assert fleet.dataset("clicks-eu@4") is None
    assert fleet.dataset("clicks-eu@gold") is None


def test_datasets_without_versions_read_as_before() -> None:
    fleet = fleet_from_document(example("fleet-hybrid.yaml"), "fleet.yaml")
    clicks = fleet.dataset("clicks-eu")
    assert clicks is not None
    assert (clicks.version, clicks.replicas) == (None, ("onprem-local",))
    assert fleet_to_document(fleet)["datasets"][0] == {
        "name": "clicks-eu",
        "site": "onprem-local",
        "size_gb": 1200,
        "jurisdiction": "EU",
    }


def test_versions_and_replicas_survive_the_resolved_document() -> None:
    fleet = fleet_from_document(versioned_fleet(), "fleet.yaml")
    document = fleet_to_document(fleet)
    assert document["datasets"][1]["replicas"] == ["gcp-europe-west4"]
    assert fleet_from_document(document, "resolved") == fleet


def test_the_primary_site_listed_among_replicas_is_one_copy() -> None:
    document = versioned_fleet()
    document["datasets"][1]["replicas"] = ["gcp-europe-west4", "onprem-local"]
    fleet = fleet_from_document(document, "fleet.yaml")
    three = fleet.dataset("clicks-eu@3")
    assert three is not None and three.replicas == ("onprem-local", "gcp-europe-west4")


def test_a_replica_at_an_unknown_site_is_located() -> None:
    document = versioned_fleet()
    document["datasets"][1]["replicas"] = ["gcp-europe-west4", "gcp-europe-wst4"]
    assert problems_of(lambda: fleet_from_document(document, "fleet.yaml")) == [
        Problem(
            "fleet.yaml: datasets[1].replicas[1]",
            "unknown site; did you mean 'gcp-europe-west4'?",
            "'gcp-europe-wst4'",
            SITES,
        )
    ]


def test_a_replica_listed_twice_is_located() -> None:
    document = versioned_fleet()
    document["datasets"][1]["replicas"] = ["gcp-europe-west4", "gcp-europe-west4"]
    [problem] = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert (problem.location, problem.message) == (
        "fleet.yaml: datasets[1].replicas[1]",
        "site listed twice",
    )


def test_one_entry_per_dataset_version() -> None:
    document = versioned_fleet()
    document["datasets"][2]["version"] = 3
    [problem] = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert (problem.location, problem.message) == (
        "fleet.yaml: datasets[2].name",
        "duplicate dataset clicks-eu@3 (also datasets[1])",
    )
    document["datasets"][2].pop("version")
    [problem] = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert problem.message == "duplicate dataset clicks-eu (also datasets[0])"


@pytest.mark.parametrize("version", [0, -1, "3", True])
def test_a_version_is_a_whole_number_from_one(version: object) -> None:
    document = versioned_fleet()
    document["datasets"][1]["version"] = version
    [problem] = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert problem.location == "fleet.yaml: datasets[1].version"


def workload_doc(inputs: list[Any]) -> dict[str, Any]:
    return {"name": "w", "team": "t", "kind": "batch", "run": "true", "inputs": inputs}


def test_inputs_take_references() -> None:
    workload = workload_from_document(
        workload_doc(["clicks-eu", "clicks-eu@3", "web-text@latest"]), "w.yaml"
    )
    assert workload.inputs == ("clicks-eu", "clicks-eu@3", "web-text@latest")


def test_an_alias_in_inputs_is_refused_with_the_entry_named() -> None:
    [problem] = problems_of(
        lambda: workload_from_document(workload_doc(["clicks-eu@3", "clicks-eu@gold"]), "w.yaml")
    )
    assert problem.location == "w.yaml: inputs[1]"
    assert problem.message.startswith("an alias ('gold') is not accepted for a dataset yet")
    assert problem.given == "'clicks-eu@gold'"
    assert problem.allowed is not None and "name@N" in problem.allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clicks@", "nothing after '@'"),
        ("Clicks", "invalid name"),
        ("clicks@0", "versions start at 1"),
        ("clicks@Gold!", "invalid alias"),
    ],
)
def test_a_bad_reference_in_inputs_is_located(text: str, message: str) -> None:
    [problem] = problems_of(lambda: workload_from_document(workload_doc(["ok", text]), "w.yaml"))
    assert (problem.location, problem.message) == ("w.yaml: inputs[1]", message)


def test_the_same_version_twice_is_refused() -> None:
    # A bare name and @latest are the same input; two versions of one dataset are two.
    problems = problems_of(
        lambda: workload_from_document(
            workload_doc(["clicks", "clicks@2", "clicks@3", "clicks@latest"]), "w.yaml"
        )
    )
    assert [(p.location, p.message) for p in problems] == [
        ("w.yaml: inputs[3]", "dataset listed twice (also inputs[0])")
    ]


def test_every_name_a_fleet_dataset_may_have_is_still_an_input() -> None:
    # Fleet names may end in '-', '_' or '.'; the reference grammar does not take them.
    document = versioned_fleet()
    document["datasets"].append({"name": "raw-", "site": "onprem-local", "size_gb": 1})
    fleet = fleet_from_document(document, "fleet.yaml")
    workload = workload_from_document(workload_doc(["raw-", "clicks-eu@03"]), "w.yaml")
    assert workload.inputs == ("raw-", "clicks-eu@03")
    assert [fleet.dataset(ref) for ref in workload.inputs] == [
        fleet.datasets[-1],
        fleet.dataset("clicks-eu@3"),
    ]
    [problem] = problems_of(
        lambda: workload_from_document(workload_doc(["clicks-eu@3", "clicks-eu@03"]), "w.yaml")
    )
    assert problem.location == "w.yaml: inputs[1]"
