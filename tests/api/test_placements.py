"""``POST /api/v1/placements:preview``: the engine's decision for a workload document, answered
as a submission of it would be refused, and never audited nor stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.scheduling.engine import Engine
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.identities import admin_caller, grant, role_headers
from tests.services.cost_fixtures import fleet_document

PREVIEW = "/api/v1/placements:preview"
SPEC = {
    "name": "train",
    "team": "research",
    "kind": "train",
    "run": "true",
    "resources": {"accelerators": "H100:8"},
    "estimated_hours": 2,
    "spot": "never",
}


@pytest.fixture
def cp(tmp_path: Path, clock: Clock) -> ControlPlane:
    """The real engine (the API's other tests run a baseline policy), over fleet_document:
    fra/dgx (owned 8 x H100, $1/GPU-h) and gcp/spot (spot, $2/GPU-h)."""
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    plane = ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=Engine(),
        clock=clock,
    )
    plane.services.fleet.apply(admin_caller(), fleet_document(), "fleet.yaml")
    return plane


@pytest.fixture
def member(cp: ControlPlane) -> dict[str, str]:
    return role_headers(cp.services, team="research")["member"]


def audited(cp: ControlPlane) -> int:
    return len(cp.store.audit.entries(limit=10_000))


def test_answers_the_chosen_offer_its_cost_and_the_rejected_ones(
    cp: ControlPlane, api: TestClient, member: dict[str, str]
) -> None:
    entries = audited(cp)
    response = api.post(PREVIEW, json={"spec": SPEC, "source": "w.yaml"}, headers=member)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "placed" and body["reason"] is None
    assert body["placement"]["pool"] == "fra/dgx" and body["placement"]["site"] == "fra"
    chosen = body["explanation"]["chosen"]
    assert chosen["pool"] == "fra/dgx" and chosen["pricing"] == "owned"
    assert set(chosen["cost"]) >= {"usd_per_hour", "estimated_hours", "compute_usd", "total_usd"}
    assert body["explanation"]["rejected"][0]["pool"] == "gcp/spot"
    assert body["explanation"]["rejected_total"] == 1
    assert body["queue_ignored"] == 0
    # Nothing queued, nothing on the audit record.
    assert api.get("/api/v1/jobs", headers=member).json()["items"] == []
    assert audited(cp) == entries


def test_refused_with_the_submissions_422_and_not_audited(
    cp: ControlPlane, api: TestClient, member: dict[str, str]
) -> None:
    infeasible = {"spec": {**SPEC, "resources": {"accelerators": "H100:16"}}}
    entries = audited(cp)
    previewed = api.post(PREVIEW, json=infeasible, headers=member)
    assert previewed.status_code == 422
    assert previewed.json()["error"]["code"] == "spec_invalid"
    not_valid = api.post(PREVIEW, json={"document": SPEC}, headers=member)
    assert not_valid.status_code == 422
    assert not_valid.json()["error"]["code"] == "request_invalid"
    assert audited(cp) == entries  # a preview changes nothing: its failures are not audited
    submitted = api.post("/api/v1/jobs", json=infeasible, headers=member)
    assert submitted.status_code == 422
    assert previewed.json() == submitted.json()
    assert audited(cp) == entries + 1  # (as a failed submission is)


def test_another_teams_member_gets_what_a_submission_gets(
    cp: ControlPlane, api: TestClient
) -> None:
    other = grant(cp.services, "other-user", teams={"infra": "member"})
    previewed = api.post(PREVIEW, json={"spec": SPEC}, headers=other)
    submitted = api.post("/api/v1/jobs", json={"spec": SPEC}, headers=other)
    assert previewed.status_code == submitted.status_code == 403
    assert previewed.json() == submitted.json()


def test_without_a_token_401(api: TestClient) -> None:
    assert api.post(PREVIEW, json={"spec": SPEC}).status_code == 401


def test_the_document_declares_its_errors_and_that_it_changes_nothing(api: TestClient) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    operation: dict[str, Any] = paths[PREVIEW]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "402", "403", "409", "422"}
    assert operation["x-aiplane-read-only"] is True
    assert "PreviewOut" in str(operation["responses"]["200"])
