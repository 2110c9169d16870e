"""`aiplane submit --idempotency-key` (decision 0034): the command run twice with one key
queues one job, and a malformed key is a clear error. A real process against a real control
plane on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.config import Settings
from aiplane.server import EmbeddedServer
from tests.identities import admin_caller
from tests.services.cost_fixtures import fleet_document

pytestmark = pytest.mark.slow

WORKLOAD = "name: w\nteam: research\nkind: batch\nresources:\n  accelerators: H100:1\nrun: 'true'\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'aiplane.db'}",
        catalog_dir=None,
        telemetry="off",
    )
    with EmbeddedServer(settings) as running:
        running.cp.services.fleet.apply(admin_caller(), fleet_document(), "fleet.yaml")
        yield running


def _aiplane(server: EmbeddedServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIPLANE_URL": server.url, "AIPLANE_TOKEN": server.token}
    env["AIPLANE_HOME"] = str(server.settings.home)
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
