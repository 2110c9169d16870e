"""Issue #10, item 5: POST /api/v1/jobs with an Idempotency-Key (decision 0034). The same key
and body answer with the first request's job; another body with the key is 422; a key still
being processed is 409; keys are each caller's own and kept 24 hours."""

from __future__ import annotations

import threading
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from aiplane.core.idempotency import TTL_S, RequestKey
from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.identities import admin_caller, grant
from tests.services.cost_fixtures import fleet_document

JOBS = "/api/v1/jobs"


def _body(name: str = "w", **spec: Any) -> dict[str, Any]:
    spec = {"resources": {"accelerators": "H100:1"}, **spec}
    return {"spec": {"name": name, "team": "research", "kind": "train", "run": "true", **spec}}


@pytest.fixture
def member(cp: ControlPlane) -> dict[str, str]:
    cp.services.fleet.apply(admin_caller(), fleet_document([]), "fleet.yaml")
    return grant(cp.services, "researcher", teams={"research": "member"})


def _post(
    api: TestClient, headers: dict[str, str], key: str | None, body: dict[str, Any] | None = None
) -> httpx.Response:
    sent = dict(headers) if key is None else {**headers, "Idempotency-Key": key}
    # Starlette 1.x's TestClient answers with its own library's response, of the same shape.
    response: httpx.Response = cast(
        httpx.Response, api.post(JOBS, json=body or _body(), headers=sent)
    )
    return response


def _job_ids(api: TestClient, headers: dict[str, str]) -> list[str]:
    return [j["id"] for j in api.get(JOBS, headers=headers).json()["items"]]


def test_a_retry_with_the_key_answers_with_the_first_job(
    api: TestClient, member: dict[str, str]
) -> None:
    first = _post(api, member, "8e03978e-40d5-43e8-bc93-6894a57f9324")
    again = _post(api, member, "8e03978e-40d5-43e8-bc93-6894a57f9324")

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _job_ids(api, member) == [first.json()["id"]]


def test_the_body_is_compared_in_canonical_form(api: TestClient, member: dict[str, str]) -> None:
    body = _body()
    reordered = {"spec": dict(reversed(list(body["spec"].items())))}
    first = _post(api, member, "k", body)
    again = _post(api, member, '"k"', reordered)  # the draft's quoted form is the same key

    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


def test_the_key_with_another_body_is_refused(api: TestClient, member: dict[str, str]) -> None:
    first = _post(api, member, "k-1")

    other = _post(api, member, "k-1", _body(name="other"))

    assert other.status_code == 422
    error = other.json()["error"]
    assert error["code"] == "spec_invalid"
    assert first.json()["id"] in error["message"]
    assert [p["location"] for p in error["problems"]] == ["header.Idempotency-Key"]
    assert _job_ids(api, member) == [first.json()["id"]]


def test_another_callers_same_key_is_another_key(
    api: TestClient, cp: ControlPlane, member: dict[str, str]
) -> None:
    colleague = grant(cp.services, "colleague", teams={"research": "member"})
    mine = _post(api, member, "shared")
    theirs = _post(api, colleague, "shared")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_without_a_key_every_submission_is_a_new_job(
    api: TestClient, member: dict[str, str]
) -> None:
    ids = [_post(api, member, None).json()["id"] for _ in range(2)]
    assert len(set(ids)) == 2
    assert sorted(_job_ids(api, member)) == sorted(ids)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param('""', "empty", id="an empty quoted string"),
        pytest.param("k" * 256, "256 characters long", id="too long"),
        pytest.param("caf\u00e9", "not printable ASCII", id="not ASCII"),
        pytest.param("a\tb", "not printable ASCII", id="a control character"),
    ],
)
def test_a_malformed_key_is_refused_and_queues_nothing(
    api: TestClient, member: dict[str, str], key: str, message: str
) -> None:
    raw = key.encode().decode("unicode_escape").encode("latin-1")
    response = api.post(JOBS, json=_body(), headers=cast(Any, {**member, "Idempotency-Key": raw}))

    assert response.status_code == 422
    (problem,) = response.json()["error"]["problems"]
    assert problem["location"] == "header.Idempotency-Key"
    assert message in problem["message"]
    assert "printable ASCII" in problem["allowed"]
    assert _job_ids(api, member) == []


def test_a_refused_submission_keeps_no_key(api: TestClient, member: dict[str, str]) -> None:
    refused = _post(api, member, "k", _body(resources={"accelerators": "H100:64"}))
    assert refused.status_code == 422

    fixed = _post(api, member, "k")

    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers


def test_a_key_past_its_time_starts_afresh(
    api: TestClient, member: dict[str, str], clock: Clock
) -> None:
    clock.fixed = 1_800_000_000.0
    first = _post(api, member, "k").json()["id"]
    clock.fixed += TTL_S
    assert _post(api, member, "k").json()["id"] == first

    clock.fixed += 1
    later = _post(api, member, "k")

    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first


def test_a_key_still_being_processed_is_409(
    api: TestClient, cp: ControlPlane, member: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request is held after its unit of work (in the scheduler's wake-up), as a
    slow server would be when the client's timeout fires and it retries."""
    jobs = cp.services.jobs
    woken, release = threading.Event(), threading.Event()
    wake = jobs._wake

    def slow_wake() -> None:
        woken.set()
        release.wait(timeout=30)
        wake()

    monkeypatch.setattr(jobs, "_wake", slow_wake)
    answers: list[httpx.Response] = []
    first = threading.Thread(target=lambda: answers.append(_post(api, member, "k")))
    first.start()
    try:
        assert woken.wait(timeout=30)
        retry = _post(api, member, "k")
    finally:
        release.set()
        first.join(timeout=30)

    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "idempotency_key_in_flight"
    monkeypatch.setattr(jobs, "_wake", wake)
    after = _post(api, member, "k")
    assert answers[0].status_code == 201
    assert after.status_code == 201 and after.json()["id"] == answers[0].json()["id"]
    assert after.headers["Idempotent-Replayed"] == "true"


@pytest.mark.usefixtures("member")
def test_a_claim_lost_to_another_process_answers_with_the_winners_job(
    cp: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another control plane on the same store committed the key between this one's look-up
    and its claim: the claim answers with the winner, this unit is rolled back."""
    from aiplane.specs import workload_from_document

    jobs = cp.services.jobs
    caller = admin_caller()
    workload = workload_from_document(_body()["spec"], "request body", None)
    request = RequestKey("k", "f" * 64)
    winner = jobs.submit_with_key(caller, workload, request)
    monkeypatch.setattr(jobs._keys, "earlier", lambda *_: None)  # the look-up missed it

    again = jobs.submit_with_key(caller, workload, request)

    assert again.replayed and again.view.job.id == winner.view.job.id
    assert [v.job.id for v in jobs.listing(caller, 10)] == [winner.view.job.id]


def test_the_header_is_in_the_openapi_document(api: TestClient) -> None:
    post = api.get("/api/v1/openapi.json").json()["paths"][JOBS]["post"]
    (param,) = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
    assert param["in"] == "header" and not param.get("required", False)
    assert "409" in param["description"] and "422" in param["description"]
    assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]
    assert {"409", "422"} <= set(post["responses"])
