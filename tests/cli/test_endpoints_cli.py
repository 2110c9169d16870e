"""`aiplane endpoints` as a user runs it, against a real control plane (SQLite, its loops
running, the local backend): a command endpoint applied from a file becomes a ready replica,
is listed and shown, and is deleted; a bad file is refused with its field named."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiplane.config import Settings
from aiplane.core.auth import TeamRole
from aiplane.server import EmbeddedServer
from tests.builders import local_fleet_document
from tests.cli.real_server import run_cli
from tests.identities import admin_caller

pytestmark = pytest.mark.slow

SERVER = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/v2/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass

address = ("127.0.0.1", int(os.environ["AIPLANE_PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
"""


class Plane:
    def __init__(self, server: EmbeddedServer, client_home: Path) -> None:
        self.server = server
        self.client_home = client_home
        identity = server.cp.services.identity
        alice = identity.create_principal(None, "alice", teams={"t": TeamRole.MEMBER})
        self.token = identity.issue_token(None, alice, "cli")[1]

    def run(self, *args: str) -> Any:
        result = run_cli(self.server.url, self.token, self.client_home, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        out = result.stdout.lstrip()
        return json.loads(out) if out.startswith(("{", "[")) else result.stdout


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    settings = Settings(
        home=tmp_path / "server",
        database_url=f"sqlite:///{tmp_path / 'aiplane.db'}",
        catalog_dir=None,
        telemetry="off",
    )
    with EmbeddedServer(settings) as server:
        fleet = local_fleet_document(teams=[{"name": "t"}])
        server.cp.services.fleet.apply(admin_caller(), fleet, "fleet.yaml")
        yield Plane(server, tmp_path / "client")


def test_apply_list_show_and_delete_a_command_endpoint(plane: Plane, tmp_path: Path) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SERVER)
    spec = tmp_path / "echo.yaml"
    spec.write_text(
        "kind: Endpoint\nname: echo\nteam: t\n"
        f"command: {sys.executable} {script}\n"
        "sites: [{site: here, min: 1, max: 1}]\ndrain: 0\n"
        "guards: {injection: flag, pii: redact, pii_types: [email]}\n"
    )
    applied = plane.run("endpoints", "apply", str(spec), "--json")
    assert applied["name"] == "echo" and applied["generation"] == 1
    assert applied["spec"]["command"].endswith("serve.py")
    deadline = time.monotonic() + 60
    while True:
        shown = plane.run("endpoints", "show", "echo", "--json")
        (site,) = shown["sites"]
        if site["ready"] == 1:
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
    (replica,) = site["replicas"]
    assert site["site"] == "here" and site["wanted"] == 1 and replica["address"]
    assert any(e["kind"] == "job.submitted" for e in shown["events"])
    text = plane.run("endpoints", "show", "echo")
    assert "echo" in text and replica["address"] in text and "yes" in text
    assert "guards: injection flag, pii redact (restored; email)" in text
    assert shown["spec"]["guards"]["pii"] == "redact"
    listed = plane.run("endpoints", "list", "--json")
    assert [e["name"] for e in listed] == ["echo"]
    assert "1/1" in plane.run("endpoints", "list")
    assert "deleted endpoint echo" in plane.run("endpoints", "delete", "echo")
    assert plane.run("endpoints", "list", "--json") == []
    run = plane.server.cp.store.jobs.get_run(replica["run_id"])
    assert run.state.value == "cancelled"


def test_a_bad_file_is_refused_with_its_field(plane: Plane, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: echo\nteam: t\nsites: [{site: here, min: 2, max: 1}]\n")
    result = run_cli(
        plane.server.url, plane.token, plane.client_home, "endpoints", "apply", str(spec)
    )
    assert result.returncode != 0
    assert "bad.yaml: sites[0].max" in result.stderr and "bad.yaml: model" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli(plane.server.url, plane.token, plane.client_home, "endpoints", "show", "nope")
    assert missing.returncode != 0 and "nope" in missing.stderr
