"""Hostile values over the API (decision 0028): each a 4xx with the error body, never a 500,
and the server still answers afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.api.limits import MAX_BODY_BYTES
from aiplane.services.costs import MAX_ANOMALY_PERIOD_DAYS, MAX_PERIOD_DAYS
from aiplane.specs.workload_models import ENV_VALUE_MAX_CHARS, RUN_MAX_CHARS
from aiplane.wire.errors import ErrorBody
from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.services.cost_fixtures import DAY, JUNE, fleet_document
from tests.services.fleets import apply_fleet

WORKLOAD = {"name": "w", "team": "t", "kind": "batch", "run": "true"}
JOBS = "/api/v1/jobs"


def refusal(response: Any, status: int) -> dict[str, Any]:
    """The error of ``response``, checked to be ``status`` and the documented error body."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = ErrorBody.model_validate(response.json()).model_dump()["error"]
    return error


def locations(error: dict[str, Any]) -> list[str]:
    return [p["location"] for p in error["problems"]]


def post_raw(api: TestClient, headers: dict[str, str], text: str) -> Any:
    """POST ``text`` as the JSON body as it is: ``Infinity`` and ``NaN`` are not JSON, but
    Python's reader (and so the server's) accepts them."""
    return api.post(JOBS, content=text, headers={**headers, "content-type": "application/json"})


# -- non-finite numbers in specs -------------------------------------------------------------


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN"])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "estimated_hours"),
        ((), "checkpoint_minutes"),
        (("resources",), "cpus"),
        (("resources",), "memory_gib"),
        (("constraints",), "max_usd_per_hour"),
    ],
)
def test_a_non_finite_number_in_a_workload_is_a_located_422(
    api: TestClient,
    tokens: dict[str, dict[str, str]],
    literal: str,
    path: tuple[str, ...],
    field: str,
) -> None:
    marker = 12345.5
    spec: dict[str, Any] = dict(WORKLOAD)
    inner = spec
    for part in path:
        inner[part] = {}
        inner = inner[part]
    inner[field] = marker
    text = json.dumps({"spec": spec}).replace(str(marker), literal)
    error = refusal(post_raw(api, tokens["member"], text), 422)
    assert error["code"] == "spec_invalid"
    assert any(loc.endswith(".".join((*path, field))) for loc in locations(error)), error
    assert "finite" in error["problems"][0]["message"]
    # Refused, not stored: the listing still answers, with nothing in it.
    assert api.get(JOBS, headers=tokens["viewer"]).json()["items"] == []


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (lambda f: f["sites"][0]["pools"][0]["pricing"], "interruption_rate_per_hour"),
        (lambda f: f["sites"][0]["pools"][0]["node"], "cpus"),
        (lambda f: f["teams"][0], "budget_usd_per_month"),
    ],
)
def test_a_non_finite_number_in_a_fleet_is_a_located_422(
    api: TestClient,
    tokens: dict[str, dict[str, str]],
    where: Callable[[dict[str, Any]], dict[str, Any]],
    field: str,
) -> None:
    fleet = fleet_document()
    where(fleet)[field] = 777.25
    text = json.dumps({"spec": fleet}).replace("777.25", "Infinity")
    response = api.put(
        "/api/v1/fleet",
        content=text,
        headers={**tokens["admin"], "content-type": "application/json"},
    )
    error = refusal(response, 422)
    assert any(loc.endswith(field) for loc in locations(error)), error


# -- cost query times and periods ------------------------------------------------------------


@pytest.fixture
def fleet(cp: ControlPlane, clock: Clock) -> ControlPlane:
    clock.fixed = JUNE + 10 * DAY
    apply_fleet(cp.store, fleet_document(), JUNE)
    return cp


COST_ROUTES = ["report", "export", "anomalies"]
HOSTILE_TIMES = ["-1e308", "1e308", "1e400", "-inf", "inf", "nan", "0001-01-01", "9999-12-31"]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("route", COST_ROUTES)
@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", HOSTILE_TIMES)
def test_a_time_out_of_range_is_a_located_422(
    api: TestClient, tokens: dict[str, dict[str, str]], route: str, name: str, value: str
) -> None:
    response = api.get(f"/api/v1/costs/{route}", params={name: value}, headers=tokens["viewer"])
    error = refusal(response, 422)
    assert locations(error) == [name]
    assert "2000-01-01" in error["problems"][0]["allowed"]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("route", "days"), [("report", MAX_PERIOD_DAYS), ("export", MAX_PERIOD_DAYS)]
)
def test_a_report_or_export_period_is_bounded(
    api: TestClient, tokens: dict[str, dict[str, str]], route: str, days: int
) -> None:
    params = {"from": "2024-01-01", "to": "2025-06-01"}  # 517 days
    error = refusal(api.get(f"/api/v1/costs/{route}", params=params, headers=tokens["viewer"]), 422)
    assert locations(error) == ["from"]
    assert f"at most {days} days" in error["problems"][0]["allowed"]
    assert error["problems"][0]["given"] == "517.0 days"


@pytest.mark.usefixtures("fleet")
def test_an_anomaly_period_is_bounded_more_tightly(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    viewer = tokens["viewer"]
    params = {"from": "2025-01-01", "to": "2025-06-01"}  # 151 days: a report, not anomalies
    assert api.get("/api/v1/costs/report", params=params, headers=viewer).status_code == 200
    error = refusal(api.get("/api/v1/costs/anomalies", params=params, headers=viewer), 422)
    assert locations(error) == ["from"]
    assert f"at most {MAX_ANOMALY_PERIOD_DAYS} days" in error["problems"][0]["allowed"]


@pytest.mark.usefixtures("fleet")
def test_the_viewer_s_query_from_year_one_is_refused_and_a_sane_one_answers(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    viewer = tokens["viewer"]
    bad = api.get("/api/v1/costs/anomalies", params={"from": "0001-01-01"}, headers=viewer)
    assert refusal(bad, 422)["problems"][0]["given"] == "'0001-01-01'"
    good = api.get("/api/v1/costs/anomalies", params={"from": "2025-06-01"}, headers=viewer)
    assert good.status_code == 200, good.text


# -- body and field sizes --------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_before_it_is_parsed(
    api: TestClient, tokens: dict[str, dict[str, str]], cp: ControlPlane
) -> None:
    huge = {"spec": {**WORKLOAD, "env": {"PAD": "x" * (2 * 1024 * 1024)}}}
    error = refusal(api.post(JOBS, json=huge, headers=tokens["member"]), 413)
    assert error["code"] == "payload_too_large"
    assert error["problems"][0]["allowed"].startswith(f"at most {MAX_BODY_BYTES} bytes")
    # A refused change is on the audit record, as any other is.
    refused = [e.record for e in cp.audit.search() if e.record.outcome == "payload_too_large"]
    assert [r.action for r in refused] == ["POST /api/v1/jobs"]
    # Not even invalid JSON is read past the limit.
    junk = "{" * (MAX_BODY_BYTES + 1)
    assert post_raw(api, tokens["member"], junk).status_code == 413
    assert api.get(JOBS, headers=tokens["viewer"]).json()["items"] == []


def test_a_streamed_body_over_the_limit_is_413_without_a_length(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"spec": {"name": "w", "team": "t", "kind": "batch", "run": "'
        for _ in range(3):
            yield b"x" * MAX_BODY_BYTES
        yield b'"}}'

    response = api.post(
        JOBS, content=chunks(), headers={**tokens["member"], "content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers  # sent chunked
    assert refusal(response, 413)["code"] == "payload_too_large"


def test_a_body_just_under_the_limit_reaches_validation(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    """What the limit lets through is judged by the spec (here: a command too long)."""
    spec = {**WORKLOAD, "run": "x" * (MAX_BODY_BYTES - 200)}
    text = json.dumps({"spec": spec})
    assert len(text) <= MAX_BODY_BYTES
    error = refusal(post_raw(api, tokens["member"], text), 422)
    assert locations(error) == ["request body: run"]


def test_a_long_command_is_a_422_naming_run(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    spec = {**WORKLOAD, "run": "echo " + "x" * (10 * 1024)}
    error = refusal(api.post(JOBS, json={"spec": spec}, headers=tokens["member"]), 422)
    assert locations(error) == ["request body: run"]
    assert str(RUN_MAX_CHARS) in error["problems"][0]["allowed"]


def test_a_long_env_value_is_a_422_naming_the_variable(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    spec = {**WORKLOAD, "env": {"OK": "1", "BIG": "x" * (ENV_VALUE_MAX_CHARS + 1)}}
    error = refusal(api.post(JOBS, json={"spec": spec}, headers=tokens["member"]), 422)
    assert locations(error) == ["request body: env.BIG"]


@pytest.mark.usefixtures("fleet_applied")
def test_a_normal_submission_still_passes(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    spec = {
        **WORKLOAD,
        "run": "x" * RUN_MAX_CHARS,
        "env": {"A": "y" * ENV_VALUE_MAX_CHARS},
        "estimated_hours": 2.5,
        "resources": {"cpus": 2},
    }
    response = api.post(JOBS, json={"spec": spec}, headers=tokens["member"])
    assert response.status_code == 201, response.text
    assert len(api.get(JOBS, headers=tokens["viewer"]).json()["items"]) == 1
