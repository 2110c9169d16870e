"""The control-plane process (``python -m aiplane.server``, what ``aiplane up`` becomes): a
failed start says what is wrong and never loses the admin token."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.client import Client
from aiplane.core.errors import SpecError
from aiplane.discovery import LocalHome
from aiplane.exits import EXIT_BAD_INPUT, EXIT_FAILURE
from aiplane.listening import bind


def _env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLANE_")}
    return {**env, "AIPLANE_HOME": str(home), "AIPLANE_TELEMETRY": "off", **settings}


def _start(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "status", "says"),
    [
        ({"AIPLANE_TELEMETRY": "sometimes"}, EXIT_BAD_INPUT, "AIPLANE_TELEMETRY: unknown mode"),
        (
            {"AIPLANE_CATALOG": "/no/such/catalog"},
            EXIT_BAD_INPUT,
            "AIPLANE_CATALOG: no such directory",
        ),
        ({"AIPLANE_DATABASE_URL": "mysql://db/x"}, EXIT_FAILURE, "unsupported database URL"),
    ],
)
def test_aiplane_up_reports_a_bad_setting_without_a_traceback(
    tmp_path: Path, settings: dict[str, str], status: int, says: str
) -> None:
    done = _start(["aiplane", "up", "--port", "0"], _env(tmp_path, **settings))
    assert done.returncode == status, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert not LocalHome(tmp_path).server_file.exists()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_a_taken_port_fails_the_start_before_the_admin_token_is_made(
    tmp_path: Path, taken_port: int
) -> None:
    home = LocalHome(tmp_path)
    env = _env(tmp_path)
    done = _start(["aiplane.server", "--port", str(taken_port)], env)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert f"cannot listen on 127.0.0.1:{taken_port}" in done.stderr
    assert "--port" in done.stderr and "Traceback" not in done.stderr
    assert home.token() is None

    # The next start is the first one that ran: it makes the token and saves it.
    process = home.spawn(env)
    try:
        info = home.wait_until_up(process, None)
        token = home.token()
        assert token is not None
        with Client(info.url, token) as client:
            assert client.whoami().global_role == "admin"
    finally:
        process.terminate()
        process.wait(20)


def _start_over(home: Path, stdout: int) -> subprocess.Popen[bytes]:
    env = {**_env(home), "COLUMNS": "500"}  # no wrapped lines, pipe or terminal
    return subprocess.Popen(
        [sys.executable, "-m", "aiplane.server", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(20)


def test_the_admin_token_is_not_printed_to_a_stdout_that_is_not_a_terminal(
    tmp_path: Path,
) -> None:
    home = LocalHome(tmp_path)
    process = _start_over(tmp_path, subprocess.PIPE)
    try:
        home.wait_until_up(process, None)
    finally:
        _stop(process)
    assert process.stdout is not None
    printed = process.stdout.read().decode()
    token = home.token()
    assert token is not None
    assert token not in printed
    # Where it is instead: the credentials file, which the CLI and the tests read.
    assert f"admin token: made and saved in {home.credentials_file}" in printed, printed


def test_the_admin_token_is_shown_once_on_a_terminal(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    primary, secondary = pty.openpty()
    process = _start_over(tmp_path, secondary)
    os.close(secondary)
    printed = b""
    try:
        home.wait_until_up(process, None)
        deadline = time.monotonic() + 30  # a liveness bound, not a timing assertion
        while b"Ctrl-C stops" not in printed and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if ready:
                printed += os.read(primary, 4096)
    finally:
        _stop(process)
        os.close(primary)
    token = home.token()
    assert token is not None
    text = printed.decode(errors="replace")
    assert token in text and "shown once" in text, text


def test_a_port_out_of_range_is_a_located_error_not_an_overflow() -> None:
    with pytest.raises(SpecError) as caught:
        bind("127.0.0.1", 70000)
    assert caught.value.problems[0].location == "--port"
    assert caught.value.problems[0].given == "70000"
