"""``/api/v1/audit``: admins search, verify and export; everyone else is refused (and the
refusal is itself an entry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.core.audit import entry_from, verify_chain
from aiplane.core.auth import TeamRole
from aiplane.wiring import ControlPlane
from tests.audit.filling import caller_of
from tests.identities import role_headers

ROUTES = ("/api/v1/audit", "/api/v1/audit/verify", "/api/v1/audit/export")


@pytest.fixture
def api(cp: ControlPlane) -> Iterator[TestClient]:
    with TestClient(create_app(cp.services)) as client:
        yield client


@pytest.fixture
def headers(cp: ControlPlane) -> dict[str, dict[str, str]]:
    found = role_headers(cp.services)
    admin = caller_of(cp.services, found["admin"])
    cp.services.identity.set_member(admin, "vision", "member-user", TeamRole.OWNER)
    return found


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("role", ["viewer", "member", "operator"])
def test_only_admins_read_the_log(
    api: TestClient, headers: dict[str, dict[str, str]], path: str, role: str
) -> None:
    refused = api.get(path, headers=headers[role])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"
    entries = api.get(
        "/api/v1/audit", params={"actor": f"{role}-user"}, headers=headers["admin"]
    ).json()
    assert [(e["action"], e["resource"], e["outcome"]) for e in entries] == [
        ("audit.read", "audit", "denied")
    ]


@pytest.mark.parametrize("path", ROUTES)
def test_without_a_token_is_401(api: TestClient, path: str) -> None:
    assert api.get(path).status_code == 401


def test_admin_searches(api: TestClient, headers: dict[str, dict[str, str]]) -> None:
    admin = headers["admin"]
    every = api.get("/api/v1/audit", params={"limit": 1000}, headers=admin)
    assert every.status_code == 200
    body = every.json()
    assert [e["seq"] for e in body] == list(range(1, len(body) + 1))
    first = body[0]
    assert set(first) == {
        "seq",
        "at",
        "actor",
        "action",
        "resource",
        "outcome",
        "team",
        "detail",
        "prev_hash",
        "hash",
        "key_id",
        "signature",
    }
    assert first["prev_hash"] == "0" * 64 and first["key_id"].startswith("ed25519:")
    teams = api.get("/api/v1/audit", params={"resource": "team/"}, headers=admin).json()
    assert [(e["resource"], e["team"]) for e in teams] == [("team/vision", "vision")]
    assert teams[0]["detail"]["role"] == "owner" and teams[0]["detail"]["token"].startswith("tok-")
    # since: epoch seconds, or an ISO time (UTC).
    later = api.get("/api/v1/audit", params={"since": body[-1]["at"] + 1}, headers=admin)
    assert later.json() == []
    iso = api.get("/api/v1/audit", params={"since": "2000-01-01T00:00:00Z"}, headers=admin)
    assert len(iso.json()) == min(len(body), 100)


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"actor": ""}, "actor"),
    ],
)
def test_bad_searches_are_422_with_the_field(
    api: TestClient,
    headers: dict[str, dict[str, str]],
    params: dict[str, Any],
    location: str,
) -> None:
    response = api.get("/api/v1/audit", params=params, headers=headers["admin"])
    assert response.status_code == 422, response.text
    problems = response.json()["error"]["problems"]
    assert [p["location"] for p in problems] == [location]


def test_verify_and_expect(api: TestClient, headers: dict[str, dict[str, str]]) -> None:
    admin = headers["admin"]
    intact = api.get("/api/v1/audit/verify", headers=admin).json()
    assert intact["ok"] is True and intact["first_bad"] is None
    head = intact["head"]
    assert head["seq"] == intact["checked"] > 0
    expect = f"{head['seq']}:{head['hash']}"
    again = api.get("/api/v1/audit/verify", params={"expect": expect}, headers=admin).json()
    assert again["ok"] is True
    ahead = f"{head['seq'] + 10}:{head['hash']}"
    short = api.get("/api/v1/audit/verify", params={"expect": ahead}, headers=admin).json()
    assert (short["ok"], short["first_bad"]) == (False, head["seq"] + 1)
    assert short["head"] == head


@pytest.mark.parametrize("expect", ["12", "abc:def", "3:" + "z" * 64, "0:" + "0" * 64])
def test_a_bad_expect_is_422_located(
    api: TestClient, headers: dict[str, dict[str, str]], expect: str
) -> None:
    response = api.get("/api/v1/audit/verify", params={"expect": expect}, headers=headers["admin"])
    assert response.status_code == 422
    [problem] = response.json()["error"]["problems"]
    assert problem["location"] == "expect" and problem["given"] == repr(expect)


def test_export_is_ndjson_that_verifies(
    api: TestClient, cp: ControlPlane, headers: dict[str, dict[str, str]]
) -> None:
    response = api.get("/api/v1/audit/export", headers=headers["admin"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    entries = [entry_from(json.loads(line)) for line in response.text.splitlines()]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert verify_chain(entries, cp.audit.signature_ok, cp.store.audit.head()).ok


def test_the_openapi_document_describes_the_routes(api: TestClient) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    export = paths["/api/v1/audit/export"]["get"]["responses"]["200"]["content"]
    assert list(export) == ["application/x-ndjson"]
    verify = paths["/api/v1/audit/verify"]["get"]["responses"]["200"]["content"]
    assert verify["application/json"]["schema"]["$ref"].endswith("/VerificationOut")
