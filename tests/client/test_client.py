"""The client over httpx's MockTransport: what it sends, what it returns, how it fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiplane.client import ApiError, Client, TokenFileError, UnreachableError
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


@pytest.mark.parametrize("content", [None, "", " \n"])
def test_a_token_file_that_holds_no_token_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("AIPLANE_URL", "http://remote:1234")
    monkeypatch.delenv("AIPLANE_TOKEN", raising=False)
    monkeypatch.setenv("AIPLANE_TOKEN_FILE", str(path))
    reason = "No such file or directory" if content is None else "the file is empty"
    with pytest.raises(TokenFileError, match=f"AIPLANE_TOKEN_FILE={path}: .*{reason}"):
        Client.from_environment()


def test_from_environment_without_a_local_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIPLANE_URL", raising=False)
    with pytest.raises(UnreachableError, match="no local control plane is running"):
        Client.from_environment(home=LocalHome(tmp_path))


def test_tokens_create_list_and_revoke() -> None:
    made: dict[str, Any] = {
        "id": "tok-1",
        "name": "ci",
        "principal": "bot",
        "created_at": 1.0,
        "expires_at": 3601.0,
        "prefix": "aip_Ab12",
        "token": "aip_Ab12secret",
    }
    item = {**made, "state": "active"}
    del item["token"]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json=made)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json=[item])

    seen, client = recording(answer)
    assert client.tokens.create("ci", "bot", expires_in_s=3600).token == "aip_Ab12secret"
    assert json.loads(seen[0].content) == {"name": "ci", "principal": "bot", "expires_in_s": 3600}
    [listed] = client.tokens.list(every=True)
    assert listed.state == "active" and listed.prefix == "aip_Ab12"
    assert seen[1].url.params["all"] == "true" and "principal" not in seen[1].url.params
    client.tokens.list("bot")
    assert seen[2].url.params["principal"] == "bot"
    client.tokens.revoke("tok-1")
    assert (seen[3].method, seen[3].url.path) == ("DELETE", "/api/v1/tokens/tok-1")


def test_users_update_sends_only_what_changes() -> None:
    user = {"id": "p-1", "name": "ann", "kind": "user", "created_at": 1.0}
    seen, client = recording(lambda _: httpx.Response(200, json=user))
    client.users.update("ann", disabled=True)
    assert json.loads(seen[0].content) == {"disabled": True}
    client.users.update("ann", global_role=None, email="ann@example.org")
    assert json.loads(seen[1].content) == {"global_role": None, "email": "ann@example.org"}
    assert (seen[1].method, seen[1].url.path) == ("PATCH", "/api/v1/users/ann")
    client.users.create("ci-bot", kind="service")
    assert json.loads(seen[2].content)["kind"] == "service"


def test_team_members_add_and_remove() -> None:
    member = {"team": "a", "name": "ann", "kind": "user", "role": "owner"}

    def answer(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(204) if request.method == "DELETE" else httpx.Response(200, json=member)
        )

    seen, client = recording(answer)
    assert client.teams.add_member("a", "ann", "owner").role == "owner"
    assert (seen[0].method, seen[0].url.path) == ("PUT", "/api/v1/teams/a/members/ann")
    assert json.loads(seen[0].content) == {"role": "owner"}
    client.teams.remove_member("a", "ann")
    assert (seen[1].method, seen[1].url.path) == ("DELETE", "/api/v1/teams/a/members/ann")


def test_a_refused_deletion_is_an_api_error() -> None:
    body = {"error": {"code": "not_found", "message": "token tok-x not found", "problems": []}}
    _, client = recording(lambda _: httpx.Response(404, json=body))
    with pytest.raises(ApiError) as refused:
        client.tokens.revoke("tok-x")
    assert (refused.value.status, refused.value.code) == (404, "not_found")


def test_a_proxys_html_page_with_a_200_is_a_protocol_error() -> None:
    page = "<html><body>Please sign in</body></html>"
    headers = {"content-type": "text/html"}
    _, client = recording(lambda _: httpx.Response(200, text=page, headers=headers))
    with pytest.raises(ApiError) as caught:
        client.jobs.show("j-1")
    assert (caught.value.status, caught.value.code) == (200, "protocol_error")
    assert "GET http://cp:8470/api/v1/jobs/j-1 answered 200 (text/html)" in caught.value.message
    assert "compatible version" in caught.value.message


def test_a_body_of_another_shape_is_a_protocol_error_naming_the_field() -> None:
    skewed = {**JOB, "state": None}  # a server of another version, say
    _, client = recording(lambda _: httpx.Response(200, json=skewed))
    with pytest.raises(ApiError) as caught:
        client.jobs.cancel("j-1")
    assert caught.value.code == "protocol_error"
    assert "state:" in caught.value.message


def test_a_list_answer_that_is_not_a_list_is_a_protocol_error() -> None:
    _, client = recording(lambda _: httpx.Response(200, json={"items": []}))
    with pytest.raises(ApiError, match="does not understand") as caught:
        client.jobs.events("j-1")
    assert caught.value.code == "protocol_error"
    _, broken = recording(lambda _: httpx.Response(200, content=b'[{"id": '))
    with pytest.raises(ApiError) as truncated:
        broken.costs.budgets()
    assert truncated.value.code == "protocol_error"


def test_the_cli_reports_a_protocol_error_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from aiplane.cli.commands import jobs as jobs_command
    from aiplane.cli.main import app

    _, client = recording(lambda _: httpx.Response(200, text="<html/>"))
    monkeypatch.setattr(jobs_command, "connect", lambda: client)
    result = CliRunner().invoke(app, ["jobs", "show", "j-1"])
    assert result.exit_code == 1
    assert "protocol_error" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
