"""`aiplane gateway`: its help, and the process it becomes (argv and environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aiplane.cli.main import app
from aiplane.discovery import GATEWAY_MODULE, GATEWAY_TOKEN_ENV


def test_help_says_what_it_serves_and_what_it_needs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiplane", "gateway", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for needle in (
        "/v1/chat/completions",
        "/v2/models/ENDPOINT/infer",
        "gateway.control",
        "--control-plane",
        "--token-file",
        "AIPLANE_REDIS_URL",
        "AIPLANE_NATS_URL",
        "--log-dir",
        "8081",
    ):
        assert needle in text, needle


class ExecError(Exception):
    """The command went as far as becoming the gateway."""


@pytest.fixture
def execs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[tuple[list[str], dict[str, str]]]:
    seen: list[tuple[list[str], dict[str, str]]] = []

    def execve(_path: str, argv: list[str], env: dict[str, str]) -> Any:
        seen.append((argv, env))
        raise ExecError

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.setenv("AIPLANE_HOME", str(tmp_path / "home"))
    for name in ("AIPLANE_URL", "AIPLANE_TOKEN", "AIPLANE_TOKEN_FILE", GATEWAY_TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_the_token_goes_in_the_environment_never_in_argv(
    execs: list[tuple[list[str], dict[str, str]]], tmp_path: Path
) -> None:
    token_file = tmp_path / "gw.token"
    token_file.write_text("aip_the-gateways-token\n")
    result = CliRunner().invoke(
        app,
        [
            "gateway",
            "--control-plane",
            "http://cp.example:8470/",
            "--token-file",
            str(token_file),
            "--port",
            "0",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        env={"AIPLANE_REDIS_URL": "redis://127.0.0.1:6379/0"},
    )
    assert isinstance(result.exception, ExecError), result.output
    (argv, env) = execs[0]
    assert argv[1:3] == ["-m", GATEWAY_MODULE]
    options = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert options == {
        "--host": "127.0.0.1",
        "--port": "0",
        "--control-plane": "http://cp.example:8470",
        "--log-dir": str(tmp_path / "logs"),
        "--redis-url": "redis://127.0.0.1:6379/0",
    }
    assert env[GATEWAY_TOKEN_ENV] == "aip_the-gateways-token"
    assert not any("aip_the-gateways-token" in a for a in argv)


def test_the_log_dir_is_under_the_home_by_default(
    execs: list[tuple[list[str], dict[str, str]]], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["gateway", "--control-plane", "http://127.0.0.1:8470"], env={"AIPLANE_TOKEN": "t"}
    )
    assert isinstance(result.exception, ExecError), result.output
    argv, env = execs[0]
    assert argv[argv.index("--log-dir") + 1] == str(tmp_path / "home" / "inference")
    assert argv[argv.index("--port") + 1] == "8081"
    assert env[GATEWAY_TOKEN_ENV] == "t"
