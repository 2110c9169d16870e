"""The client over httpx's MockTransport: what it sends, what it returns, how it fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiplane.client import ApiError, Client, UnreachableError
from aiplane.discovery import LocalHome
from aiplane.wire.costs import CostReport
from aiplane.wire.jobs import JobOut, JobPage

JOB = {
    "id": "j-1",
    "name": "ft",
    "team": "research",
    "kind": "finetune",
    "priority": 0,
    "replicas": 2,
    "state": "running",
    "attempt": 1,
    "submitted_at": 1.0,
    "submitted_by": "admin",
    "started_at": 2.0,
    "finished_at": None,
    "exit_code": None,
    "reason": None,
    "placement": {
        "site": "gcp",
        "pool": "gcp/spot",
        "backend": "emulated",
        "accelerator": "H100-80GB",
        "emulated": True,
        "usd_per_hour": 12.5,
        "nodes": ["gcp/spot/0", "gcp/spot/1"],
    },
}

Handler = Callable[[httpx.Request], httpx.Response]


def recording(answer: Handler) -> tuple[list[httpx.Request], Client]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return seen, Client("http://cp:8470/", "tok", transport=httpx.MockTransport(handler))


def test_listing_sends_filters_and_returns_a_typed_page() -> None:
    seen, client = recording(lambda _: httpx.Response(200, json={"items": [JOB]}))
    page = client.jobs.list(state=["running", "pending"], team="research", limit=10)
    assert isinstance(page, JobPage) and page.next_cursor is None
    [job] = page.items
    assert job.placement is not None and job.placement.nodes == ["gcp/spot/0", "gcp/spot/1"]
    [request] = seen
    assert request.url.path == "/api/v1/jobs"
    assert request.url.params.get_list("state") == ["running", "pending"]
    assert request.url.params["team"] == "research" and request.url.params["limit"] == "10"
    assert "before" not in request.url.params  # None means "not given"
    assert request.headers["authorization"] == "Bearer tok"


def test_submit_posts_the_spec_body() -> None:
    seen, client = recording(lambda _: httpx.Response(201, json=JOB))
    job = client.jobs.submit({"name": "ft"}, source="ft.yaml", workdir="/w")
    assert isinstance(job, JobOut) and job.id == "j-1"
    assert seen[0].method == "POST"
    assert json.loads(seen[0].content) == {
        "spec": {"name": "ft"},
        "source": "ft.yaml",
        "workdir": "/w",
    }


def test_cost_report_travels_as_from_and_to() -> None:
    report = {
        "by": "team",
        "from": "2025-06-01T00:00:00Z",
        "to": "2025-06-11T00:00:00Z",
        "currency": "USD",
        "usage_usd": 1.5,
        "idle_usd": 0.0,
        "rows": [],
        "idle": [],
    }
    seen, client = recording(lambda _: httpx.Response(200, json=report))
    got = client.costs.report(by="team", start="2025-06-01")
    assert isinstance(got, CostReport) and got.from_ == "2025-06-01T00:00:00Z"
    assert got.model_dump(mode="json", by_alias=True) == report
    assert seen[0].url.params["from"] == "2025-06-01" and "to" not in seen[0].url.params


def test_an_error_body_becomes_an_api_error_with_status_and_problems() -> None:
    body = {
        "error": {
            "code": "spec_invalid",
            "message": "invalid workload",
            "problems": [{"location": "w.yaml: kind", "message": "bad", "given": "x"}],
        }
    }
    _, client = recording(lambda _: httpx.Response(422, json=body))
    with pytest.raises(ApiError) as raised:
        client.jobs.submit({})
    err = raised.value
    assert (err.status, err.code, err.message) == (422, "spec_invalid", "invalid workload")
    assert err.problems[0].location == "w.yaml: kind" and err.problems[0].allowed is None


def test_a_foreign_error_body_is_kept_as_text() -> None:
    _, client = recording(lambda _: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ApiError) as raised:
        client.health()
    assert (raised.value.status, raised.value.code) == (502, "http_error")
    assert "bad gateway" in raised.value.message


def test_a_transport_failure_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    _, client = recording(refuse)
    with pytest.raises(UnreachableError, match="cannot reach http://cp:8470"):
        client.jobs.show("j-1")


def test_export_streams_to_a_file(tmp_path: Path) -> None:
    seen, client = recording(lambda _: httpx.Response(200, content=b"a,b\n1,2\n"))
    out = tmp_path / "focus.csv"
    assert client.costs.export(out, start="2025-06-01") == 8
    assert out.read_bytes() == b"a,b\n1,2\n"
    assert seen[0].url.params["format"] == "focus"


def test_from_environment_prefers_aiplane_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLANE_URL", "http://remote:1234")
    monkeypatch.setenv("AIPLANE_TOKEN", "t")
    assert Client.from_environment().url == "http://remote:1234"


def test_from_environment_without_a_local_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIPLANE_URL", raising=False)
    with pytest.raises(UnreachableError, match="no local control plane is running"):
        Client.from_environment(home=LocalHome(tmp_path))


def test_tokens_send_the_role_as_text() -> None:
    answer: dict[str, Any] = {"id": "t-1", "name": "ci", "role": "viewer", "token": "secret"}
    seen, client = recording(lambda _: httpx.Response(201, json=answer))
    assert client.tokens.create("ci", "viewer").token == "secret"
    assert json.loads(seen[0].content) == {"name": "ci", "role": "viewer"}
