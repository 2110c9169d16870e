"""A real control plane for the registry's CLI tests: SQLite and the artifact store under
``tmp_path``, on 127.0.0.1, with a team ``risk`` of an author (ana, member), an approver
(bob) and an owner (olga), and the CLI run as each of them as a real process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiplane.config import Settings
from aiplane.core.auth import TeamRole
from aiplane.server import EmbeddedServer
from tests.cli.real_server import run_cli
from tests.identities import admin_caller

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
PEOPLE = (("ana", TeamRole.MEMBER), ("bob", TeamRole.APPROVER), ("olga", TeamRole.OWNER))


class Plane:
    def __init__(self, server: EmbeddedServer, home: Path, client_home: Path) -> None:
        self.server = server
        self.home = home  # the server's: its artifact store is under artifacts/
        self.client_home = client_home
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        identity = server.cp.services.identity
        for name, role in PEOPLE:
            principal = identity.create_principal(None, name, teams={"risk": role})
            self.ids[name] = principal.id
            self.tokens[name] = identity.issue_token(None, principal, f"{name}-cli")[1]

    def aiplane(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.server.url, self.tokens[who], self.client_home, *args)

    def ok(self, who: str, *args: str) -> Any:
        """``aiplane ARGS`` as ``who``: it must succeed; its JSON when it printed some."""
        result = self.aiplane(who, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        out = result.stdout.lstrip()
        return json.loads(out) if out.startswith(("{", "[")) else result.stdout

    def blobs(self, sha256: str) -> list[Path]:
        """The files of the artifact store that hold the blob ``sha256``."""
        store = self.home / "artifacts"
        return [p for p in store.rglob("*") if p.is_file() and sha256 in p.as_posix()]


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    settings = Settings(
        home=tmp_path / "server",
        database_url=f"sqlite:///{tmp_path / 'aiplane.db'}",
        catalog_dir=None,
        telemetry="off",
    )
    with EmbeddedServer(settings) as server:
        server.cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
        yield Plane(server, tmp_path / "server", tmp_path / "client")


def folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path
