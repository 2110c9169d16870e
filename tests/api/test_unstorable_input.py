"""Text no store can keep (a NUL, a lone surrogate) is refused at the edge with the field, 422,
instead of reaching PostgreSQL and coming back as a 503 "store unavailable" (decision 0037)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.wiring import ControlPlane
from tests.identities import admin_caller, role_headers
from tests.services.cost_fixtures import fleet_document

TEAM = "research"
WORKLOAD = {"name": "w", "team": TEAM, "kind": "train", "run": "true"}
H100 = {"accelerators": "H100:1"}


@pytest.fixture
def admin(cp: ControlPlane) -> dict[str, str]:
    cp.services.fleet.apply(admin_caller(), fleet_document([]), "fleet.yaml")
    return role_headers(cp.services, team=TEAM)["admin"]


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/api/v1/jobs?before=%00", "before"),
        ("/api/v1/jobs?team=r%00", "team"),
        ("/api/v1/tokens?principal=%00", "principal"),
        ("/api/v1/jobs?state=pending&state=%0a", "state"),
        # DEL, C1 (NEL, CSI) and the Unicode line separator: no name or id holds them either,
        # and a logged one forges a line (decision 0037).
        ("/api/v1/jobs?team=r%7F", "team"),
        ("/api/v1/jobs?team=r%C2%85x", "team"),
        ("/api/v1/jobs?before=%C2%9B31m", "before"),
        ("/api/v1/tokens?principal=a%E2%80%A8b", "principal"),
    ],
)
def test_a_query_value_with_a_control_character_is_refused_at_its_name(
    api: TestClient, admin: dict[str, str], url: str, location: str
) -> None:
    response = api.get(url, headers=admin)
    assert response.status_code == 422, response.text
    assert [p["location"] for p in response.json()["error"]["problems"]] == [location]


@pytest.mark.parametrize(
    ("method", "url", "body", "location"),
    [
        ("POST", "/api/v1/tokens", {"name": "t", "principal": "x\x00"}, "body.principal"),
        ("PUT", "/api/v1/fleet", {"spec": fleet_document([]), "source": "a\x00"}, "body.source"),
        (
            "POST",
            "/api/v1/jobs",
            {"spec": {**WORKLOAD, "resources": H100, "env": {"A": "\x00"}}},
            "body.spec.env.A",
        ),
        (
            "POST",
            "/api/v1/jobs",
            {"spec": {**WORKLOAD, "resources": H100, "labels": {"k": "\ud800"}}},
            "body.spec.labels.k",
        ),
    ],
)
def test_body_text_with_a_nul_or_a_lone_surrogate_is_refused_at_its_field(
    api: TestClient, admin: dict[str, str], method: str, url: str, body: Any, location: str
) -> None:
    # json.dumps writes a lone surrogate as the escape "\ud800", as a client would send it.
    headers = {**admin, "Content-Type": "application/json"}
    response = api.request(method, url, content=json.dumps(body), headers=headers)
    assert response.status_code == 422, response.text
    assert [p["location"] for p in response.json()["error"]["problems"]] == [location]


@pytest.mark.parametrize("run", ["echo a\n\techo b", "printf 'a\x85b\u2028c\x7f\x1b[0m'"])
def test_line_breaks_in_a_command_are_still_text(
    api: TestClient, admin: dict[str, str], run: str
) -> None:
    # Stricter query values leave body text alone: a command keeps any control but NUL.
    spec = {**WORKLOAD, "resources": H100, "run": run, "env": {"SEP": "\u2028\x85"}}
    response = api.post("/api/v1/jobs", json={"spec": spec}, headers=admin)
    assert response.status_code == 201, response.text
    shown = api.get(f"/api/v1/jobs/{response.json()['id']}", headers=admin).json()
    assert shown["workload"]["run"] == run


def test_a_stranger_learns_nothing_of_the_input(api: TestClient) -> None:
    # Authentication comes first: without a token, the answer is 401 whatever the input.
    response = api.get("/api/v1/jobs?before=%00")
    assert response.status_code == 401


def test_a_parameter_the_route_does_not_take_is_ignored_as_before(
    api: TestClient, admin: dict[str, str]
) -> None:
    # whoami declares no 422: what it does not read cannot reach the store.
    response = api.get("/api/v1/whoami?x=%00", headers=admin)
    assert response.status_code == 200, response.text
