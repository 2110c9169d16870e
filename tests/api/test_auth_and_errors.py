"""Authentication on every route and the JSON error shape (what each role may do on each
route: tests/api/test_route_roles.py)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.builders import local_fleet_document

WORKLOAD = {"name": "w", "team": "t", "kind": "batch", "run": "true"}
FLEET = local_fleet_document()


def test_health_needs_no_token(api: TestClient) -> None:
    response = api.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_every_other_route_requires_a_token(api: TestClient) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    routes = [(p, m.upper()) for p, ops in paths.items() for m in ops if p != "/api/v1/health"]
    assert len(routes) >= 9
    for route_path, method in routes:
        path = re.sub(r"\{[^}]+\}", "x", route_path)
        response = api.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        bad = api.request(method, path, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401


def test_bad_spec_is_a_422_with_problems(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    bad = {**WORKLOAD, "replicas": 0, "kind": "training"}
    response = api.post(
        "/api/v1/jobs", json={"spec": bad, "source": "job.yaml"}, headers=tokens["member"]
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "spec_invalid"
    locations = {p["location"] for p in error["problems"]}
    assert any(loc.startswith("job.yaml") and "replicas" in loc for loc in locations)
    assert any("kind" in loc for loc in locations)


def test_unknown_job_is_404(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    response = api.get("/api/v1/jobs/j-nope", headers=tokens["viewer"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_state_filter_is_rejected(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    response = api.get("/api/v1/jobs", params={"state": "sleeping"}, headers=tokens["viewer"])
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["allowed"].startswith("pending")


@pytest.mark.usefixtures("fleet_applied")
def test_listing_pages_newest_first(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    ids = []
    for i in range(7):
        r = api.post(
            "/api/v1/jobs",
            json={"spec": {**WORKLOAD, "name": f"w{i}"}},
            headers=tokens["member"],
        )
        ids.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, int | str] = {"limit": 3}
        if cursor:
            params["before"] = cursor
        page = api.get("/api/v1/jobs", params=params, headers=tokens["viewer"]).json()
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_openapi_is_served(api: TestClient) -> None:
    schema = api.get("/api/v1/openapi.json").json()
    assert "/api/v1/jobs" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_a_405_says_which_methods_the_path_allows(api: TestClient) -> None:
    response = api.delete("/api/v1/jobs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
