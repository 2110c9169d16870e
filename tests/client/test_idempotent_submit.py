"""Submissions are safe to retry (issue #10, item 5; decision 0034): each carries an
Idempotency-Key, and a broken connection, a timeout or an unavailable server is retried with
the same key, a bounded number of times, with backoff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aiplane.client import ApiError, Client, Retry, UnreachableError, retryable
from aiplane.config import Settings
from aiplane.server import EmbeddedServer
from aiplane.wire.errors import ErrorDetail
from tests.client.test_client import JOB
from tests.services.cost_fixtures import fleet_document

WORKLOAD = {
    "name": "w",
    "team": "research",
    "kind": "batch",
    "resources": {"accelerators": "H100:1"},
    "run": "true",
}
IN_FLIGHT = {"error": {"code": "idempotency_key_in_flight", "message": "still processed"}}
CONFLICT = {"error": {"code": "conflict", "message": "changed meanwhile"}}


class Script:
    """Answers in turn (a response, or an exception to raise), recording every request and
    every wait the client asks for."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.waits: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, attempts: int = 4) -> Client:
        retry = Retry(attempts=attempts, base_delay_s=0.5, max_delay_s=1.5, sleep=self.waits.append)
        return Client("http://cp:8470", "tok", transport=httpx.MockTransport(self), retry=retry)

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def _created() -> httpx.Response:
    return httpx.Response(201, json=JOB)


def test_each_submission_sends_a_fresh_uuid_key() -> None:
    script = Script(_created(), _created())
    client = script.client()
    client.jobs.submit(WORKLOAD)
    client.jobs.submit(WORKLOAD)

    first, second = script.keys
    assert first is not None and second is not None and first != second
    assert str(uuid.UUID(first)) == first


def test_a_given_key_is_sent_as_it_is() -> None:
    script = Script(_created())
    script.client().jobs.submit(WORKLOAD, idempotency_key="nightly-2026-12-02")
    assert script.keys == ["nightly-2026-12-02"]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda r: httpx.ReadError("connection reset", request=r), id="reset"),
        pytest.param(lambda r: httpx.ReadTimeout("timed out", request=r), id="read timeout"),
        pytest.param(lambda r: httpx.ConnectError("refused", request=r), id="refused"),
        pytest.param(lambda r: httpx.RemoteProtocolError("closed", request=r), id="closed"),
        pytest.param(lambda _: httpx.Response(502, text="bad gateway"), id="502"),
        pytest.param(
            lambda _: httpx.Response(
                503, json={"error": {"code": "store_error", "message": "down"}}
            ),
            id="503",
        ),
        pytest.param(lambda _: httpx.Response(409, json=IN_FLIGHT), id="409 key in flight"),
    ],
)
def test_a_transient_failure_is_retried_with_the_same_key(
    failure: Callable[[httpx.Request], httpx.Response | Exception],
) -> None:
    request = httpx.Request("POST", "http://cp:8470/api/v1/jobs")
    script = Script(failure(request), failure(request), _created())

    job = script.client().jobs.submit(WORKLOAD)

    assert job.id == "j-1"
    assert len(script.requests) == 3
    assert len(set(script.keys)) == 1 and script.keys[0] is not None
    bodies = {r.content for r in script.requests}
    assert len(bodies) == 1 and json.loads(bodies.pop())["spec"] == WORKLOAD
    # Backoff: 0.5 then 1.0 s, each with up to half again as jitter.
    assert 0.5 <= script.waits[0] <= 0.75 and 1.0 <= script.waits[1] <= 1.5


def test_retries_are_bounded_and_the_last_failure_is_raised() -> None:
    request = httpx.Request("POST", "http://cp:8470/api/v1/jobs")
    script = Script(*(httpx.ReadError("reset", request=request) for _ in range(3)))

    with pytest.raises(UnreachableError, match="reset"):
        script.client(attempts=3).jobs.submit(WORKLOAD)

    assert len(script.requests) == 3 and len(script.waits) == 2
    assert all(w <= 1.5 * 1.5 for w in script.waits)  # capped at max_delay_s, plus jitter


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(409, CONFLICT, id="another conflict"),
        pytest.param(422, {"error": {"code": "spec_invalid", "message": "bad"}}, id="422"),
        pytest.param(402, {"error": {"code": "budget_exceeded", "message": "no"}}, id="402"),
        pytest.param(500, {"error": {"code": "internal", "message": "bug"}}, id="500"),
    ],
)
def test_a_refusal_is_not_retried(status: int, body: dict[str, object]) -> None:
    script = Script(httpx.Response(status, json=body))

    with pytest.raises(ApiError) as raised:
        script.client().jobs.submit(WORKLOAD)

    assert raised.value.status == status
    assert len(script.requests) == 1 and script.waits == []


def test_a_wrong_address_is_not_retried() -> None:
    script = Script(httpx.UnsupportedProtocol("no such scheme"))
    with pytest.raises(UnreachableError):
        script.client().jobs.submit(WORKLOAD)
    assert len(script.requests) == 1


def test_a_retry_policy_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        Retry(attempts=0)


class BreaksAfterSending(httpx.BaseTransport):
    """A real connection to the server whose first submission's answer is lost: the request
    reaches the server, which stores the job, then the connection breaks before the client
    reads the response (what the kill -9 probe saw for 7 of 75 submissions)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.broken = 0
        self.submissions = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/jobs"):
            self.submissions += 1
            if self.broken == 0:
                response.read()  # the server has answered: the job is stored
                response.close()
                self.broken += 1
                raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'aiplane.db'}",
        catalog_dir=None,
        telemetry="off",
    )
    with EmbeddedServer(settings) as running:
        yield running


@pytest.mark.slow
def test_a_submission_whose_answer_was_lost_is_stored_once(server: EmbeddedServer) -> None:
    """The probe: the retry after the broken connection gets the job the first try stored,
    and exactly one job is stored (before decision 0034: two, or an error and one unseen)."""
    transport = BreaksAfterSending()
    retry = Retry(base_delay_s=0.0)
    with Client(server.url, server.token, transport=transport, retry=retry) as client:
        client.fleet.apply(fleet_document(), source="fleet.yaml")

        job = client.jobs.submit(WORKLOAD, source="w.yaml")

        stored = client.jobs.list().items
    assert transport.broken == 1 and transport.submissions == 2
    assert [j.id for j in stored] == [job.id]


def _refused(request: httpx.Request) -> httpx.ConnectError:
    """What httpx raises when nothing listens: a ConnectError over ConnectionRefusedError."""
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as cause:
        error = httpx.ConnectError("[Errno 111] Connection refused", request=request)
        error.__cause__ = cause
        return error


def _budgeted(script: Script, attempts: int, budget_s: float, notices: list[str]) -> Client:
    retry = Retry(
        attempts=attempts,
        base_delay_s=1.0,
        max_delay_s=1.0,
        refused_budget_s=budget_s,
        notice=notices.append,
        sleep=script.waits.append,
    )
    return Client("http://cp:8470", "tok", transport=httpx.MockTransport(script), retry=retry)


def test_a_refused_connection_is_tried_for_the_budget_past_the_attempts() -> None:
    """A control plane restarting (nothing listens for a while): tried again past
    ``attempts`` while the waits stay within the budget, then answered."""
    request = httpx.Request("POST", "http://cp:8470/api/v1/jobs")
    script = Script(*(_refused(request) for _ in range(5)), _created())
    notices: list[str] = []

    job = _budgeted(script, attempts=2, budget_s=10.0, notices=notices).jobs.submit(WORKLOAD)

    assert job.id == "j-1"
    assert len(script.requests) == 6 and len(set(script.keys)) == 1
    assert len(script.waits) == 5 and sum(script.waits) <= 10.0
    assert len(notices) == 1 and "trying again with the same Idempotency-Key" in notices[0]


def test_the_refused_budget_bounds_the_tries() -> None:
    request = httpx.Request("POST", "http://cp:8470/api/v1/jobs")
    script = Script(*(_refused(request) for _ in range(20)))

    with pytest.raises(UnreachableError, match="refused"):
        _budgeted(script, attempts=2, budget_s=3.0, notices=[]).jobs.submit(WORKLOAD)

    # Waits of 1 to 1.5 s: at least two fit in 3 s, never more than three.
    assert 2 <= len(script.waits) <= 3 and sum(script.waits) <= 3.0
    assert len(script.requests) == len(script.waits) + 1


def test_the_refused_budget_is_not_spent_on_other_failures() -> None:
    # A reset may follow a request the server got: the attempts bound it, not the budget.
    request = httpx.Request("POST", "http://cp:8470/api/v1/jobs")
    script = Script(*(httpx.ReadError("reset", request=request) for _ in range(5)))

    with pytest.raises(UnreachableError, match="reset"):
        _budgeted(script, attempts=2, budget_s=100.0, notices=[]).jobs.submit(WORKLOAD)

    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("header", "replayed"), [({"Idempotent-Replayed": "true"}, True), ({}, False)]
)
def test_a_submission_says_whether_it_was_replayed(header: dict[str, str], replayed: bool) -> None:
    script = Script(httpx.Response(201, json=JOB, headers=header))

    sent = script.client().jobs.submission(WORKLOAD, idempotency_key="nightly-4")

    assert (sent.job.id, sent.key, sent.replayed) == ("j-1", "nightly-4", replayed)
    assert script.keys == ["nightly-4"]


def test_retryable_names_the_failures_after_which_a_job_may_be_stored() -> None:
    request = httpx.Request("POST", "http://cp:8470/api/v1/jobs")

    def unreachable(cause: Exception) -> UnreachableError:
        error = UnreachableError("cannot reach")
        error.__cause__ = cause
        return error

    def refusal(status: int, code: str) -> ApiError:
        return ApiError(status, ErrorDetail(code=code, message="m"))

    assert retryable(unreachable(httpx.ReadError("reset", request=request)))
    assert retryable(unreachable(_refused(request)))
    assert retryable(refusal(503, "store_error"))
    assert retryable(refusal(409, "idempotency_key_in_flight"))
    assert not retryable(unreachable(httpx.UnsupportedProtocol("ftp", request=request)))
    assert not retryable(refusal(409, "conflict"))
    assert not retryable(refusal(422, "spec_invalid"))
    assert not retryable(ValueError("other"))
