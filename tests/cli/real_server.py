"""A real control plane for CLI tests, and the real CLI run against it as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiplane.config import Settings
from aiplane.server import EmbeddedServer
from tests.identities import admin_caller
from tests.services.cost_fixtures import fleet_document


@contextmanager
def serving_cost_fleet(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """An embedded server on 127.0.0.1 with SQLite under ``tmp_path`` and the cost tests'
    fleet applied."""
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'aiplane.db'}",
        catalog_dir=None,
        telemetry="off",
    )
    with EmbeddedServer(settings) as running:
        running.cp.services.fleet.apply(admin_caller(), fleet_document(), "fleet.yaml")
        yield running


def run_cli(url: str, token: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``aiplane ARGS`` as a user runs it against the server at ``url``, tables unwrapped."""
    env = {
        **os.environ,
        "AIPLANE_HOME": str(home),
        "AIPLANE_URL": url,
        "AIPLANE_TOKEN": token,
        "COLUMNS": "200",
    }
    env.pop("AIPLANE_DATABASE_URL", None)  # the CLI talks to the server, not to a database
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
