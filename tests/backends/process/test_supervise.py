"""The supervisor on its own, for the paths a healthy launcher never takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SUPERVISE = [sys.executable, "-m", "aiplane.backends.process.supervise"]


def test_without_its_environment_the_command_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    env_file = str(tmp_path / "absent.json")
    done = subprocess.run(
        [*_SUPERVISE, "--dir", str(tmp_path), "--env-file", env_file, "--", f"touch {marker}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert "not running the command" in done.stderr
    assert json.loads((tmp_path / "exit.json").read_text())["exit_code"] == 127
    assert not marker.exists()


def test_runs_with_its_own_environment_and_records_the_exit(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_SUPERVISE, "--dir", str(tmp_path), "--", "echo out; exit 5"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == "out\n"
    record = json.loads((tmp_path / "exit.json").read_text())
    assert record["exit_code"] == 5 and record["signal"] is None and not record["cancelled"]
    assert json.loads((tmp_path / "supervisor.json").read_text())["child_pgid"] > 0


def test_a_command_is_required(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_SUPERVISE, "--dir", str(tmp_path), "--"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "no command" in done.stderr


def test_a_supervisor_that_lost_the_claim_removes_its_own_secrets_only(tmp_path: Path) -> None:
    (tmp_path / "claim.json").write_text('{"pid": 1}')  # the other supervisor runs it
    (tmp_path / "token").write_text("the winner's")
    own_env, own_token = tmp_path / "env.1.json", tmp_path / "token.1"
    own_env.write_text('{"SECRET": "x"}')
    own_token.write_text("ours")
    args = ["--dir", str(tmp_path), "--env-file", str(own_env), "--token-file", str(own_token)]
    done = subprocess.run(
        [*_SUPERVISE, *args, "--", "true"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0 and "not running it" in done.stderr
    assert not own_env.exists() and not own_token.exists()
    assert (tmp_path / "token").read_text() == "the winner's"
    assert not (tmp_path / "exit.json").exists()
