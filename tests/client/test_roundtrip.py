"""The client against a real embedded control plane: every resource, typed, end to end."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.client import ApiError, Client
from aiplane.config import Settings
from aiplane.discovery import LocalHome, ServerInfo
from aiplane.server import EmbeddedServer
from tests.services.cost_fixtures import fleet_document

pytestmark = pytest.mark.slow

WORKLOAD = {
    "name": "w",
    "team": "research",
    "kind": "batch",
    "resources": {"accelerators": "H100:1"},
    "run": "echo hello",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'aiplane.db'}",
        catalog_dir=None,
        scheduler_interval_s=0.1,
        reconciler_interval_s=0.1,
        telemetry="off",
    )
    with EmbeddedServer(settings) as running:
        yield running


@pytest.fixture
def client(server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    # Found the way the CLI finds a local control plane: server.json and credentials.
    home = LocalHome(server.settings.home)
    home.write_server_info(ServerInfo(server.url, os.getpid(), time.time()))
    home.write_token(server.token)
    monkeypatch.delenv("AIPLANE_URL", raising=False)
    monkeypatch.delenv("AIPLANE_TOKEN", raising=False)
    with Client.from_environment(home=home) as found:
        yield found


def test_every_resource_round_trips(client: Client, tmp_path: Path) -> None:
    assert client.health().pid == os.getpid()
    assert client.whoami().global_role == "admin"
    fleet = client.fleet.apply(fleet_document(), source="fleet.yaml")
    assert fleet.version == 1 and {p.pool for p in fleet.pools} == {"dgx", "spot"}
    assert client.fleet.show(document=True).document is not None

    job = client.jobs.submit(WORKLOAD, source="w.yaml", workdir=str(tmp_path))
    assert [j.id for j in client.jobs.list().items] == [job.id]
    deadline = time.monotonic() + 30
    while client.jobs.show(job.id).state != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
    shown = client.jobs.show(job.id)
    assert shown.state == "succeeded", shown.reason
    assert shown.state == "succeeded" and shown.workload is not None
    assert shown.placement is not None and shown.placement.emulated
    assert "hello" in client.jobs.logs(job.id).replicas[0].text
    assert client.jobs.events(job.id)[0].kind == "job.submitted"
    assert client.jobs.explain(job.id).decisions[-1].kind == "run.placed"
    assert client.jobs.cancel(job.id).state == "succeeded"  # already over: stays so

    report = client.costs.report(by="team")
    assert "research" in {r.key for r in report.rows}
    assert {f.team for f in client.costs.forecast()} >= {"research"}
    assert {b.target for b in client.costs.budgets()} == {"research"}
    assert client.costs.alerts() == [] and client.costs.anomalies() == []
    out = tmp_path / "focus.csv"
    assert client.costs.export(out) > 0 and "BilledCost" in out.read_text().splitlines()[0]

    # A service account, a viewer of the team: reads, may not submit, is refused once revoked.
    assert client.users.create("ci", kind="service").kind == "service"
    assert client.teams.add_member("research", "ci", "viewer").role == "viewer"
    assert {m.name for m in client.teams.members("research")} == {"ci"}
    viewer = client.tokens.create("ci-token", "ci", expires_in_s=3600)
    assert viewer.token is not None and viewer.principal == "ci"
    with Client(client.url, viewer.token) as limited:
        assert limited.whoami().teams == {"research": "viewer"}
        assert [j.id for j in limited.jobs.list().items] == [job.id]
        with pytest.raises(ApiError) as denied:
            limited.jobs.submit(WORKLOAD)
        assert (denied.value.status, denied.value.code) == (403, "forbidden")
        assert [t.name for t in limited.tokens.list()] == ["ci-token"]
        client.tokens.revoke(viewer.id)
        with pytest.raises(ApiError) as revoked:
            limited.whoami()
        assert revoked.value.status == 401
    assert {t.state for t in client.tokens.list("ci")} == {"revoked"}
    assert client.users.update("ci", disabled=True).disabled
    client.teams.remove_member("research", "ci")
    assert client.teams.members("research") == []


def test_unknown_job_is_a_typed_404(client: Client) -> None:
    with pytest.raises(ApiError) as raised:
        client.jobs.show("j-nope")
    assert (raised.value.status, raised.value.code) == (404, "not_found")


def test_a_running_job_reports_its_checkpoint(client: Client, tmp_path: Path) -> None:
    client.fleet.apply(fleet_document(), source="fleet.yaml")
    job = client.jobs.submit({**WORKLOAD, "run": "sleep 30"}, workdir=str(tmp_path))
    with pytest.raises(ApiError) as refused:  # nothing runs yet: no attempt to credit
        client.jobs.checkpoint(job.id, uri="file:///ckpt/step-0")
    assert refused.value.status == 409
    deadline = time.monotonic() + 30
    while client.jobs.show(job.id).state != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    saved = client.jobs.checkpoint(job.id, uri="file:///ckpt/step-1")
    assert (saved.job_id, saved.attempt, saved.checkpoint_uri) == (
        job.id,
        1,
        "file:///ckpt/step-1",
    )
    assert saved.last_checkpoint_at is not None
    assert "run.checkpoint" in [e.kind for e in client.jobs.events(job.id)]
    assert client.jobs.cancel(job.id).state == "cancelled"


def test_a_token_file_is_read_when_no_token_variable_is_set(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # How a workload finds its own token: AIPLANE_URL and the file AIPLANE_TOKEN_FILE names.
    token_file = tmp_path / "token"
    token_file.write_text(f"  {server.token}\n")
    monkeypatch.setenv("AIPLANE_URL", server.url)
    monkeypatch.delenv("AIPLANE_TOKEN", raising=False)
    monkeypatch.setenv("AIPLANE_TOKEN_FILE", str(token_file))
    with Client.from_environment() as found:
        assert found.whoami().name == "admin"
    # A token variable, when set, wins over the file.
    monkeypatch.setenv("AIPLANE_TOKEN", "aip_not-a-token")
    with Client.from_environment() as found, pytest.raises(ApiError) as refused:
        found.whoami()
    assert refused.value.status == 401
