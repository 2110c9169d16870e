"""Scoping through the `aiplane` command: a real process against a real control plane on
127.0.0.1. A member of one team cannot show, cancel or read the logs of another team's job:
each is answered as a job that does not exist; its own team and operators see it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.config import Settings
from aiplane.core.auth import GlobalRole, TeamRole
from aiplane.server import EmbeddedServer
from aiplane.specs import workload_from_document
from tests.cli.real_server import run_cli
from tests.identities import admin_caller

pytestmark = pytest.mark.slow

FLEET = {
    "sites": [
        {
            "name": "here",
            "kind": "onprem",
            "region": "local",
            "jurisdiction": "EU",
            "pools": [
                {
                    "name": "cpu",
                    "backend": "local",
                    "nodes": 1,
                    "node": {"cpus": 1, "memory_gib": 1},
                    "pricing": {"model": "owned", "usd_per_node_hour": 0.5},
                }
            ],
        }
    ]
}


class Plane:
    def __init__(self, server: EmbeddedServer, home: Path) -> None:
        self.server = server
        self.home = home
        self.tokens: dict[str, str] = {}
        identity = server.cp.services.identity
        for name, teams, role in (
            ("alice", {"a": TeamRole.MEMBER}, None),
            ("bob", {"b": TeamRole.MEMBER}, None),
            ("ops", {}, GlobalRole.OPERATOR),
        ):
            principal = identity.create_principal(None, name, global_role=role, teams=teams)
            self.tokens[name] = identity.issue_token(None, principal, f"{name}-cli")[1]

    def aiplane(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.server.url, self.tokens[who], self.home, *args)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    settings = Settings(
        home=tmp_path / "server",
        database_url="memory://",
        catalog_dir=None,
        telemetry="off",
    )
    with EmbeddedServer(settings) as server:
        server.cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
        yield Plane(server, tmp_path / "client")


def submit(plane: Plane, who: str, team: str, tmp_path: Path) -> str:
    spec = tmp_path / f"{who}.yaml"
    spec.write_text(
        json.dumps({"name": f"{who}-job", "team": team, "kind": "batch", "run": "sleep 30"})
    )
    workload_from_document(json.loads(spec.read_text()), str(spec))  # valid before it is sent
    result = plane.aiplane(who, "submit", str(spec), "--json")
    assert result.returncode == 0, result.stderr
    job_id: str = json.loads(result.stdout)["id"]
    return job_id


def test_a_member_cannot_show_cancel_or_read_logs_of_another_teams_job(
    plane: Plane, tmp_path: Path
) -> None:
    theirs = submit(plane, "bob", "b", tmp_path)
    for command in ("show", "cancel", "logs", "explain"):
        refused = plane.aiplane("alice", "jobs", command, theirs)
        assert refused.returncode == 1, (command, refused.stdout)
        assert "not_found" in refused.stderr and f"job {theirs} not found" in refused.stderr
        assert "bob-job" not in refused.stdout + refused.stderr
    listed = plane.aiplane("alice", "jobs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["items"] == []
    # Bob's own job, untouched by the refused cancel; the operator sees it too.
    shown = plane.aiplane("bob", "jobs", "show", theirs, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["state"] != "cancelled"
    everyone = plane.aiplane("ops", "jobs", "list", "--json")
    assert [j["id"] for j in json.loads(everyone.stdout)["items"]] == [theirs]
    cancelled = plane.aiplane("bob", "jobs", "cancel", theirs, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["state"] in ("cancelled", "succeeded", "failed")
