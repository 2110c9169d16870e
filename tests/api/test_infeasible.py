"""Issue #10 through the API: work that can never run is refused at submission with the field,
the reason per pool and the nearest offers; work that could run but not now waits
(decision 0031)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.core.feasibility import MAX_REPLICAS
from aiplane.wiring import ControlPlane
from tests.backends.helpers import wait_until
from tests.identities import admin_caller, grant
from tests.services.cost_fixtures import fleet_document

# fra/dgx: 1 owned node of 8 x H100 in the EU; gcp/spot: 4 spot nodes of 8 x H100 in the US.
FLEET = fleet_document([])


@pytest.fixture
def member(cp: ControlPlane) -> dict[str, str]:
    cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
    return grant(cp.services, "researcher", teams={"research": "member"})


def _submit(api: TestClient, headers: dict[str, str], **spec: Any) -> Any:
    body = {"spec": {"name": "w", "team": "research", "kind": "train", "run": "true", **spec}}
    return api.post("/api/v1/jobs", json=body, headers=headers)


CASES = [
    pytest.param(
        {"resources": {"accelerators": "H100:16"}},
        "resources.accelerators",
        "largest node: 8 x H100",
        id="more GPUs per replica than any node",
    ),
    pytest.param(
        {"resources": {"accelerators": "H100:8"}, "replicas": 5},
        "replicas",
        "at most 4 replicas of 8 x H100",
        id="a gang larger than the whole fleet",
    ),
    pytest.param(
        {"resources": {"accelerators": "H100:1"}, "replicas": MAX_REPLICAS + 1},
        "replicas",
        f"a whole number from 1 to {MAX_REPLICAS}",
        id="an absurd replica count",
    ),
    pytest.param(
        {"resources": {"accelerators": "H100:1"}, "constraints": {"jurisdictions": ["JP"]}},
        "constraints",
        "fra/dgx (EU, onprem, owned)",
        id="constraints no pool meets",
    ),
    pytest.param(
        {"resources": {"accelerators": "H100:1", "cpus": 500}},
        "resources.cpus",
        "96 CPUs",
        id="more CPUs than any node",
    ),
]


@pytest.mark.parametrize(("spec", "location", "allowed"), CASES)
def test_work_that_can_never_run_is_refused_with_the_field_named(
    api: TestClient, member: dict[str, str], spec: dict[str, Any], location: str, allowed: str
) -> None:
    response = _submit(api, member, **spec)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "spec_invalid"
    (problem,) = [p for p in error["problems"] if p["location"] == location]
    assert allowed in problem["allowed"], problem
    assert problem["given"]
    # Nothing was queued.
    assert api.get("/api/v1/jobs", headers=member).json()["items"] == []


def test_a_submission_before_any_fleet_exists_is_refused_with_how_to_apply_one(
    cp: ControlPlane, api: TestClient
) -> None:
    # No fleet applied: no pool could take the work. Until now it was queued, and explained as
    # "no scheduling decision recorded yet" for ever.
    member = grant(cp.services, "researcher", teams={"research": "member"})
    response = _submit(api, member, resources={"accelerators": "H100:1"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "spec_invalid"
    assert "no fleet is applied" in error["message"]
    assert "aiplane fleet apply FILE" in error["message"]
    (problem,) = error["problems"]
    assert problem["location"] == "fleet"
    assert "aiplane fleet apply FILE" in problem["allowed"]
    assert api.get("/api/v1/jobs", headers=member).json()["items"] == []
    # Once a fleet is applied, the same submission is accepted.
    cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
    assert _submit(api, member, resources={"accelerators": "H100:1"}).status_code == 201


def test_work_that_fits_but_not_now_is_accepted_and_waits(
    cp: ControlPlane, api: TestClient, member: dict[str, str]
) -> None:
    # Each gang takes the whole spot pool: the second fits the fleet, just not while the first
    # runs, so it is accepted and waits with the scheduler's reason.
    gang = {"resources": {"accelerators": "H100:8", "cpus": 1}, "replicas": 4, "spot": "required"}
    cp.start()
    try:
        first = _submit(api, member, **{**gang, "run": "sleep 60"})
        assert first.status_code == 201, first.text
        second = _submit(api, member, **gang)
        assert second.status_code == 201, second.text
        job_id = second.json()["id"]

        def waiting() -> dict[str, Any] | None:
            explained: dict[str, Any] = api.get(
                f"/api/v1/jobs/{job_id}/explain", headers=member
            ).json()
            kinds = [d["kind"] for d in explained["decisions"]]
            return explained if "run.waiting" in kinds else None

        explained = wait_until(waiting, what=f"job {job_id} to wait")
        assert explained["state"] == "pending"
    finally:
        for job in api.get("/api/v1/jobs", headers=member).json()["items"]:
            api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=member)
        cp.stop()


PLACES = [
    pytest.param({"clouds": ["gcp", "aws"]}, "constraints.clouds[1]", "gcp", id="unknown cloud"),
    pytest.param({"regions": ["mars-1"]}, "constraints.regions[0]", "us-central1", id="region"),
    pytest.param({"infra": "gcp/eastus"}, "constraints.infra", "gcp/us-central1", id="infra"),
    pytest.param({"sites": ["fra", "nope"]}, "constraints.sites[1]", "fra", id="unknown site"),
]


@pytest.mark.parametrize(("constraints", "location", "allowed"), PLACES)
def test_a_cloud_region_or_site_the_fleet_lacks_is_refused_at_its_place(
    api: TestClient,
    member: dict[str, str],
    constraints: dict[str, Any],
    location: str,
    allowed: str,
) -> None:
    # Decision 0040: before it, an unknown name beside a known one was ignored silently.
    response = _submit(api, member, resources={"accelerators": "H100:1"}, constraints=constraints)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["error"]["problems"]
    assert problem["location"] == location
    assert allowed in problem["allowed"]
    assert api.get("/api/v1/jobs", headers=member).json()["items"] == []


def test_an_empty_constraint_list_is_refused_and_known_names_are_accepted(
    api: TestClient, member: dict[str, str]
) -> None:
    empty = _submit(api, member, resources={"accelerators": "H100:1"}, constraints={"clouds": []})
    assert empty.status_code == 422, empty.text
    (problem,) = empty.json()["error"]["problems"]
    assert problem["location"].endswith("constraints.clouds")
    assert "leave the field out for no limit" in problem["allowed"]
    known = _submit(
        api, member, resources={"accelerators": "H100:1"}, constraints={"infra": "GCP/us-central1"}
    )
    assert known.status_code == 201, known.text
