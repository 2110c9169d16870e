"""The registry's datasets as placement weighs them, on a real control plane (SQLite): pinned
at submission, their replicas' sites preferred when egress makes the others dearer, and the
fleet's ``datasets:`` registered at apply."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiplane.core.errors import SpecError
from aiplane.services.scheduling import run_cycle
from tests.services.registry_plane import Plane, fleet, site

CLICKS = {"day1.csv": b"user,clicks\nu1,3\nu2,5\n"}
# The replicas' sites charge so much per GB leaving them that copying the few bytes of
# clicks anywhere costs more than the compute saved there.
PRICEY_EGRESS = 1e10


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    p = Plane(tmp_path)
    p.apply(
        fleet(
            site("holder-a", 1.0, PRICEY_EGRESS),
            site("holder-b", 1.0, PRICEY_EGRESS),
            site("cheap", 0.1),
        )
    )
    return p


def placed_site(plane: Plane, job_id: str) -> str:
    fleet_now = plane.cp.fleets.current()
    assert fleet_now is not None
    run_cycle(plane.store, fleet_now, plane.cp.policy, time.time())
    return plane.store.jobs.run_for_job(job_id).placed().site


def test_a_job_reading_a_replicated_version_runs_where_a_replica_is(plane: Plane) -> None:
    assert plane.dataset("clicks", CLICKS, "holder-a", "holder-b") == 1
    version = plane.services.datasets.resolve(plane.alice, "clicks@1")
    assert [r.site for r in version.replicas] == ["holder-a", "holder-b"]
    job = plane.submit(run="true", inputs=["clicks@1"])
    assert placed_site(plane, job) in ("holder-a", "holder-b")


def test_without_inputs_the_cheaper_site_wins(plane: Plane) -> None:
    # The control for the test above: the holders lose on compute alone.
    job = plane.submit(run="true")
    assert placed_site(plane, job) == "cheap"


def test_a_bare_name_is_pinned_to_the_newest_version_at_submission(plane: Plane) -> None:
    plane.dataset("clicks", CLICKS, "holder-a")
    assert plane.dataset("clicks", {"day2.csv": b"user,clicks\nu3,1\n"}, "holder-b") == 2
    job = plane.submit(run="true", inputs=["clicks"])
    assert plane.store.jobs.get(job).workload.inputs == ("clicks@2",)
    # A version registered after the submission does not move the queued job.
    plane.dataset("clicks", {"day3.csv": b"user,clicks\n"}, "holder-a")
    assert plane.store.jobs.get(job).workload.inputs == ("clicks@2",)
    assert placed_site(plane, job) == "holder-b"


def test_the_fleets_datasets_are_registered_at_apply(tmp_path: Path) -> None:
    plane = Plane(tmp_path)
    document = fleet(
        site("here", 0.5),
        site("there", 0.5),
        datasets=[{"name": "logs", "site": "here", "size_gb": 5, "replicas": ["there"]}],
    )
    plane.apply(document)
    (logs,) = plane.services.datasets.listing(plane.alice)
    assert logs.name == "logs"
    view = plane.services.datasets.show(plane.alice, "logs")
    assert view.latest is not None
    assert (view.latest.version, view.latest.size) == (1, 5_000_000_000)
    assert [r.site for r in view.latest.replicas] == ["here", "there"]
    # Applied again unchanged: no new version; `logs` pins to the version registered.
    plane.apply(document)
    assert plane.services.datasets.show(plane.alice, "logs").latest == view.latest
    job = plane.submit(run="true", inputs=["logs"])
    assert plane.store.jobs.get(job).workload.inputs == ("logs@1",)


def test_a_fleet_declaring_a_teams_dataset_is_refused(plane: Plane) -> None:
    plane.dataset("clicks", CLICKS, "holder-a")
    before = plane.store.fleets.current()
    document = fleet(
        site("holder-a", 1.0),
        datasets=[{"name": "clicks", "site": "holder-a", "size_gb": 1}],
    )
    with pytest.raises(SpecError) as err:
        plane.apply(document)
    assert [p.location for p in err.value.problems] == ["datasets[0].name"]
    assert "team t" in err.value.problems[0].message
    # Nothing of the apply stays: the fleet in force and the team's versions are as they were.
    assert plane.store.fleets.current() == before
    versions = plane.services.datasets.versions(plane.alice, "clicks")
    assert [v.version for v in versions] == [1]


def test_two_versions_of_one_dataset_cannot_be_told_apart_by_a_run(plane: Plane) -> None:
    plane.dataset("clicks", CLICKS, "holder-a")
    plane.dataset("clicks", {"day2.csv": b"user,clicks\nu3,1\n"}, "holder-a")
    with pytest.raises(SpecError) as err:
        plane.submit(run="true", inputs=["clicks@1", "clicks"])
    assert [p.location for p in err.value.problems] == ["inputs[1]"]
    assert "AIPLANE_INPUT_CLICKS" in err.value.problems[0].message
    # The same version twice is one input.
    job = plane.submit(run="true", inputs=["clicks@2", "clicks"])
    assert plane.store.jobs.get(job).workload.inputs == ("clicks@2", "clicks@2")


def test_a_registered_versions_jurisdiction_keeps_its_runs_there(tmp_path: Path) -> None:
    plane = Plane(tmp_path)
    plane.apply(fleet(site("eu", 1.0), site("us", 0.1, jurisdiction="US")))
    plane.register("eu-clicks", CLICKS, "us", jurisdiction="EU")  # a copy kept in the US
    assert placed_site(plane, plane.submit(run="true", inputs=["eu-clicks"])) == "eu"
    assert placed_site(plane, plane.submit(run="true")) == "us"
