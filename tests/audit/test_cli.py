"""`aiplane audit` against a real local control plane (a separate process, its SQLite file
under AIPLANE_HOME), whose database the test then edits behind its back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.core.audit import entry_from
from tests.cli.test_cli import aiplane

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    aiplane(tmp_path, "down")


def edit(home: Path, *statements: str) -> None:
    connection = sqlite3.connect(home / "aiplane.db")
    try:
        with connection:
            for statement in statements:
                connection.execute(statement)
    finally:
        connection.close()


def test_log_export_and_verify_catch_an_edited_database(home: Path) -> None:
    made = aiplane(home, "tokens", "create", "ci")  # starts the control plane: entries 1-3
    assert made.returncode == 0, made.stderr
    for name in ("one", "two"):
        assert aiplane(home, "tokens", "create", name).returncode == 0

    logged = aiplane(home, "audit", "log", "--json", "--resource", "token/")
    assert logged.returncode == 0, logged.stderr
    entries = json.loads(logged.stdout)
    assert [e["action"] for e in entries] == ["token.create"] * 4
    table = aiplane(home, "audit", "log", "--actor", "admin")
    assert table.returncode == 0 and "token.create" in table.stdout

    exported = aiplane(home, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    lines = [entry_from(json.loads(line)) for line in exported.stdout.splitlines()]
    assert [e.seq for e in lines] == list(range(1, len(lines) + 1))
    out = home / "audit.jsonl"
    assert aiplane(home, "audit", "export", "-o", str(out)).returncode == 0
    assert out.read_text() == exported.stdout

    intact = aiplane(home, "audit", "verify", "--json")
    assert intact.returncode == 0, intact.stderr
    head = json.loads(intact.stdout)["head"]
    recorded = f"{head['seq']}:{head['hash']}"
    shown = aiplane(home, "audit", "verify")
    assert shown.returncode == 0 and recorded in shown.stdout

    # The tail cut and the head rolled back with it: only the recorded head shows it.
    edit(
        home,
        "DELETE FROM audit_log WHERE seq = (SELECT seq FROM audit_head)",
        "UPDATE audit_head SET seq = seq - 1, hash = (SELECT hash FROM audit_log "
        "WHERE audit_log.seq = audit_head.seq - 1)",
    )
    assert aiplane(home, "audit", "verify").returncode == 0
    cut = aiplane(home, "audit", "verify", "--expect", recorded)
    assert cut.returncode == 1
    assert f"broken at entry {head['seq']}" in cut.stderr

    edit(home, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    broken = aiplane(home, "audit", "verify")
    assert broken.returncode == 1
    assert "broken at entry 2: its content does not match its hash" in broken.stderr
    assert "last good entry: 1:" in broken.stderr
    as_json = aiplane(home, "audit", "verify", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["first_bad"] == 2

    bad = aiplane(home, "audit", "verify", "--expect", "nope")
    assert bad.returncode == 2 and "expect" in bad.stderr


def test_help_names_the_commands(home: Path) -> None:
    result = aiplane(home, "audit", "--help")
    assert result.returncode == 0
    for command in ("log", "verify", "export"):
        assert command in result.stdout
