"""`aiplane submit --idempotency-key` (decision 0034): the command run twice with one key
queues one job, and a malformed key is a clear error. A real process against a real control
plane on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aiplane.cli.commands import jobs as jobs_cmd
from aiplane.cli.main import app
from aiplane.client import Retry
from aiplane.server import EmbeddedServer
from tests.cli.real_server import run_cli, serving_cost_fleet

pytestmark = pytest.mark.slow

WORKLOAD = "name: w\nteam: research\nkind: batch\nresources:\n  accelerators: H100:1\nrun: 'true'\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    with serving_cost_fleet(tmp_path) as running:
        yield running


def _aiplane(server: EmbeddedServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(server.url, server.token, server.settings.home, *args)


def test_submit_twice_with_one_key_queues_one_job(server: EmbeddedServer, tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text(WORKLOAD)

    first = _aiplane(server, "submit", str(spec), "--idempotency-key", "nightly-1", "--json")
    again = _aiplane(server, "submit", str(spec), "--idempotency-key", "nightly-1", "--json")
    other = _aiplane(server, "submit", str(spec), "--json")  # a fresh key of its own

    assert first.returncode == again.returncode == other.returncode == 0, first.stderr
    job = json.loads(first.stdout)["id"]
    assert json.loads(again.stdout)["id"] == job
    listed = _aiplane(server, "jobs", "list", "--json")
    ids = {j["id"] for j in json.loads(listed.stdout)["items"]}
    assert ids == {job, json.loads(other.stdout)["id"]}


def test_a_malformed_key_is_a_clear_error(server: EmbeddedServer, tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text(WORKLOAD)

    result = _aiplane(server, "submit", str(spec), "--idempotency-key", "k" * 300)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "header.Idempotency-Key: 300 characters long" in result.stderr


def test_a_replayed_answer_says_so(server: EmbeddedServer, tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text(WORKLOAD)

    first = _aiplane(server, "submit", str(spec), "--idempotency-key", "nightly-2")
    again = _aiplane(server, "submit", str(spec), "--idempotency-key", "nightly-2")

    assert first.returncode == again.returncode == 0, again.stderr
    assert first.stdout.startswith("submitted w as j-")
    job = first.stdout.split(" as ")[1].split()[0]
    assert again.stdout.startswith(f"already submitted: w is {job} (")
    assert again.stdout.rstrip().endswith("(replayed)")


class _FastRetry:
    """``Retry`` as the submit command builds it, recorded, with waits that take no time."""

    made: list[dict[str, Any]]

    def __init__(self) -> None:
        self.made = []
        self.waits: list[float] = []

    def __call__(self, **kwargs: Any) -> Retry:
        self.made.append(kwargs)
        return Retry(**kwargs, sleep=self.waits.append)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens on it now: a connection is refused


@pytest.mark.parametrize("given", [None, "nightly-3"])
def test_when_every_try_failed_the_key_is_shown_to_rerun_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str | None
) -> None:
    """A control plane that does not come back within the budget: the command fails as an
    unreachable server does (exit 3), and says which key a rerun must carry so that a try
    that did reach it is not doubled (the key is the CLI's, not a fresh one per try)."""
    spec = tmp_path / "w.yaml"
    spec.write_text(WORKLOAD)
    retry = _FastRetry()
    monkeypatch.setattr(jobs_cmd, "Retry", retry)
    env = {"AIPLANE_URL": f"http://127.0.0.1:{_closed_port()}", "AIPLANE_TOKEN": "t"}
    argv = ["submit", str(spec)] + (["--idempotency-key", given] if given else [])

    result = CliRunner().invoke(app, argv, env=env)

    assert result.exit_code == 3, result.output
    assert "cannot reach" in result.stderr and "Connection refused" in result.stderr
    hint = re.search(r"run again with --idempotency-key (\S+) to be sure", result.stderr)
    assert hint is not None, result.stderr
    assert "the job may have been stored" in result.stderr
    if given:
        assert hint[1] == given
    else:
        assert str(uuid.UUID(hint[1])) == hint[1]
    # Refused connections are tried for the CLI's budget, past the client's four tries.
    assert retry.made == [{"refused_budget_s": 30.0, "notice": jobs_cmd._retrying}]
    assert len(retry.waits) > 4 and sum(retry.waits) <= 30.0
    assert result.stderr.count("trying again with the same Idempotency-Key") == 1
