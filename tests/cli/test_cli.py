"""The `aiplane` command as a user runs it: a real process, a real local control plane."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.discovery import HOME_TAKEN_EXIT

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def aiplane(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AIPLANE_HOME": str(home), "COLUMNS": "200", **(env or {})}
    for key in ("AIPLANE_URL", "AIPLANE_TOKEN", "AIPLANE_DATABASE_URL"):
        if env is None or key not in env:
            full_env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        check=False,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    aiplane(tmp_path, "down")


def test_help_lists_the_commands(home: Path) -> None:
    result = aiplane(home, "--help")
    assert result.returncode == 0
    for command in ("up", "down", "demo", "submit", "fleet", "jobs"):
        assert command in result.stdout


def test_apply_submit_list_show_and_down(home: Path) -> None:
    applied = aiplane(home, "fleet", "apply", str(EXAMPLES / "fleet-hybrid.yaml"), "--json")
    assert applied.returncode == 0, applied.stderr
    assert "started a local control plane" in applied.stderr
    fleet = json.loads(applied.stdout)  # notices go to stderr: stdout stays valid JSON
    assert fleet["version"] == 1
    assert any(p["emulated"] for p in fleet["pools"])

    workload = min((EXAMPLES / "workloads").glob("*.yaml"))
    submitted = aiplane(home, "submit", str(workload), "--json")
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)

    listed = aiplane(home, "jobs", "list", "--json")
    assert listed.returncode == 0
    assert [j["id"] for j in json.loads(listed.stdout)["items"]] == [job["id"]]

    shown = aiplane(home, "jobs", "show", job["id"])
    assert shown.returncode == 0 and job["id"] in shown.stdout

    pools = aiplane(home, "fleet", "list")
    assert pools.returncode == 0 and "emulated" in pools.stdout

    cancelled = aiplane(home, "jobs", "cancel", job["id"], "--json")
    assert cancelled.returncode == 0
    assert json.loads(cancelled.stdout)["state"] in ("cancelled", "succeeded")

    stopped = aiplane(home, "down")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (home / "server.json").exists()


def test_a_bad_spec_is_reported_without_a_traceback(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nteam: t\nkind: training\nreplicas: 0\nrun: ''\n")
    result = aiplane(home, "submit", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bad.yaml: kind" in result.stderr
    assert "bad.yaml: replicas" in result.stderr
    # Local validation: no server was needed for that.
    assert not (home / "server.json").exists()


def test_a_submission_before_any_fleet_is_refused_with_how_to_apply_one(home: Path) -> None:
    workload = min((EXAMPLES / "workloads").glob("*.yaml"))
    refused = aiplane(home, "submit", str(workload))
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "no fleet is applied" in refused.stderr
    assert "aiplane fleet apply FILE" in refused.stderr
    listed = aiplane(home, "jobs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["items"] == []


def test_a_cloud_the_fleet_lacks_or_an_empty_list_is_refused(home: Path, tmp_path: Path) -> None:
    # Decision 0040: an empty list is refused locally; an unknown cloud by the server.
    applied = aiplane(home, "fleet", "apply", str(EXAMPLES / "fleet-hybrid.yaml"))
    assert applied.returncode == 0, applied.stderr
    body = "name: w\nteam: research\nkind: train\nrun: 'true'\n"
    empty = tmp_path / "empty.yaml"
    empty.write_text(body + "constraints: {regions: []}\n")
    refused = aiplane(home, "submit", str(empty))
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())  # as the terminal wraps it
    assert "empty.yaml: constraints.regions: an empty list is refused" in said
    assert "leave the field out for no limit" in said
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(body + "constraints: {clouds: [gcp, aws]}\n")
    refused = aiplane(home, "submit", str(unknown))
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    said = " ".join(refused.stderr.split())
    assert "constraints.clouds[1]" in said and "'aws'" in said
    listed = aiplane(home, "jobs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["items"] == []


def test_missing_file_and_unknown_job(home: Path) -> None:
    missing = aiplane(home, "fleet", "apply", "no-such-fleet.yaml")
    assert missing.returncode == 2
    assert "no-such-fleet.yaml" in missing.stderr and "Traceback" not in missing.stderr
    unknown = aiplane(home, "jobs", "show", "j-nope")
    assert unknown.returncode == 1
    assert "not_found" in unknown.stderr


def test_unreachable_remote_server(home: Path) -> None:
    result = aiplane(
        home, "jobs", "list", env={"AIPLANE_URL": "http://127.0.0.1:9", "AIPLANE_TOKEN": "x"}
    )
    assert result.returncode == 3
    assert "cannot reach" in result.stderr


def test_client_commands_load_no_server_code(home: Path) -> None:
    # What `aiplane jobs list` imports, in a fresh interpreter: never the server, its web
    # framework, the database layer or the specs (that is most of a command's start-up).
    probe = (
        "import sys\n"
        "from aiplane.cli.main import app\n"
        "try:\n"
        "    app(['jobs', 'list', '--json'])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code)\n"
        "heavy = ('fastapi', 'uvicorn', 'sqlalchemy', 'yaml', 'numpy', 'aiplane.server',\n"
        "         'aiplane.wiring', 'aiplane.api', 'aiplane.specs', 'aiplane.store',\n"
        "         'aiplane.sim')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    env = {**os.environ, "AIPLANE_HOME": str(home), "AIPLANE_URL": "http://127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == ["exit 3", "[]"], result.stderr


def test_up_refuses_when_a_control_plane_already_runs(home: Path) -> None:
    assert aiplane(home, "jobs", "list").returncode == 0  # starts one
    again = aiplane(home, "up", "--port", "0")
    assert again.returncode == HOME_TAKEN_EXIT
    assert "a control plane already runs at http://127.0.0.1:" in again.stderr
