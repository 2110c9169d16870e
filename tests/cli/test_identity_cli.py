"""`aiplane users`, `teams members`, `tokens` and `whoami` as a user runs them: real
processes against a real local control plane, as its admin and as the principals it makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiplane.discovery import LocalHome
from tests.cli.test_cli import EXAMPLES, aiplane

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Any:
    root = tmp_path / "home"
    yield root
    aiplane(root, "down")


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else None


def test_principals_teams_and_tokens(home: Path, tmp_path: Path) -> None:
    me = ok(aiplane(home, "whoami", "--json"))  # starts the local control plane
    assert me["name"] == "admin" and me["global_role"] == "admin"
    url = LocalHome(home).running()
    assert url is not None

    def as_token(token: str, *args: str) -> Any:
        return aiplane(home, *args, env={"AIPLANE_URL": url.url, "AIPLANE_TOKEN": token})

    alice = ok(aiplane(home, "users", "create", "alice", "--email", "alice@example.org", "--json"))
    assert alice["kind"] == "user" and alice["email"] == "alice@example.org"
    bot = ok(aiplane(home, "users", "create", "ci-bot", "--service", "--json"))
    assert bot["kind"] == "service"
    listed = aiplane(home, "users", "list")
    assert listed.returncode == 0 and "ci-bot" in listed.stdout and "service" in listed.stdout
    assert {u["name"] for u in ok(aiplane(home, "users", "list", "--json"))} == {
        "admin",
        "alice",
        "ci-bot",
    }
    bad = aiplane(home, "users", "create", "Not Valid")
    assert bad.returncode == 2 and "name" in bad.stderr and "Traceback" not in bad.stderr

    add = ("teams", "members", "add", "research", "alice", "--role", "member", "--json")
    added = ok(aiplane(home, *add))
    assert added == {
        "team": "research",
        "name": "alice",
        "kind": "user",
        "role": "member",
        "disabled": False,
    }
    members = ok(aiplane(home, "teams", "members", "list", "research", "--json"))
    assert [(m["name"], m["role"]) for m in members] == [("alice", "member")]

    made = ok(
        aiplane(home, "tokens", "create", "laptop", "--for", "alice", "--expires", "30d", "--json")
    )
    assert made["principal"] == "alice" and made["expires_at"] - made["created_at"] == 30 * 86400
    token = made["token"]
    whoami = ok(as_token(token, "whoami", "--json"))
    assert whoami["name"] == "alice" and whoami["teams"] == {"research": "member"}
    # Alice is no admin: other principals and all tokens are not hers to see.
    refused = as_token(token, "users", "list")
    assert refused.returncode == 1 and "forbidden" in refused.stderr
    assert as_token(token, "tokens", "list", "--all").returncode == 1
    own = ok(as_token(token, "tokens", "list", "--json"))
    assert [t["name"] for t in own] == ["laptop"] and token not in json.dumps(own)
    table = as_token(token, "tokens", "list")
    assert table.returncode == 0 and made["id"] in table.stdout and token not in table.stdout
    every = ok(aiplane(home, "tokens", "list", "--all", "--json"))
    assert {t["principal"] for t in every} == {"admin", "alice"}

    # A job of team product, submitted by the admin: alice cannot read, cancel or see its logs.
    ok(aiplane(home, "fleet", "apply", str(EXAMPLES / "fleet-hybrid.yaml"), "--json"))
    workload = tmp_path / "b.yaml"
    workload.write_text(
        "name: b-job\nteam: product\nkind: batch\n"
        "resources: {cpus: 1, memory_gib: 1}\nrun: echo hi\n"
    )
    job = ok(aiplane(home, "submit", str(workload), "--json"))
    for args in (["jobs", "show"], ["jobs", "logs"], ["jobs", "cancel"], ["jobs", "explain"]):
        hidden = as_token(token, *args, job["id"])
        assert hidden.returncode == 1, (args, hidden.stdout)
        assert "not_found" in hidden.stderr and "b-job" not in hidden.stdout
    assert ok(as_token(token, "jobs", "list", "--json"))["items"] == []

    bad_expiry = aiplane(home, "tokens", "create", "x", "--expires", "5y")
    assert bad_expiry.returncode == 2 and "--expires" in bad_expiry.stderr

    # Revoked: refused from the next command on.
    revoked = as_token(token, "tokens", "revoke", made["id"])
    assert revoked.returncode == 0 and made["id"] in revoked.stdout
    after = as_token(token, "whoami")
    assert after.returncode == 1 and "revoked" in after.stderr

    updated = ok(
        aiplane(home, "users", "update", "alice", "--disable", "--role", "operator", "--json")
    )
    assert updated["disabled"] is True and updated["global_role"] == "operator"
    shown = aiplane(home, "users", "show", "alice")
    assert shown.returncode == 0 and "disabled" in shown.stdout
    removed = aiplane(home, "teams", "members", "remove", "research", "alice")
    assert removed.returncode == 0
    assert ok(aiplane(home, "teams", "members", "list", "research", "--json")) == []
    nothing = aiplane(home, "users", "update", "alice")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr


def test_help_names_the_identity_commands(home: Path) -> None:
    top = aiplane(home, "--help")
    for command in ("users", "teams", "tokens", "whoami"):
        assert command in top.stdout
    tokens = aiplane(home, "tokens", "create", "--help")
    assert "--expires" in tokens.stdout and "--for" in tokens.stdout
    users = aiplane(home, "users", "update", "--help")
    assert "--disable" in users.stdout and "--role" in users.stdout
