"""Finding the local control plane: the files under its home and the check that it is alive."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.config import Settings
from aiplane.discovery import (
    DATABASE_TAKEN_EXIT,
    HOME_TAKEN_EXIT,
    LocalHome,
    ServerInfo,
    UnreachableError,
    home_from_env,
)
from aiplane.server import EmbeddedServer


def test_home_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLANE_HOME", str(tmp_path / "h"))
    assert home_from_env() == (tmp_path / "h").resolve()
    assert Settings.from_env().home == home_from_env()
    monkeypatch.delenv("AIPLANE_HOME")
    assert home_from_env() == (Path.home() / ".aiplane").resolve()


def test_server_file_round_trips_privately(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    assert home.server_info() is None and home.token() is None
    info = ServerInfo("http://127.0.0.1:1", 42, 1.5)
    home.write_server_info(info)
    home.write_token("secret")
    assert home.server_info() == info and home.token() == "secret"
    for path in (home.server_file, home.credentials_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    home.remove_server_info(pid=43)  # a newer server's file is left alone
    assert home.server_file.exists()
    home.remove_server_info(pid=42)
    assert not home.server_file.exists()


def test_a_damaged_server_file_reads_as_none(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    home.server_file.write_text('{"url": "http://x"')
    assert home.server_info() is None
    home.credentials_file.write_text("[]")
    assert home.token() is None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None, telemetry="off")
    with EmbeddedServer(settings) as running:
        yield running


def test_running_only_when_the_named_process_answers(server: EmbeddedServer) -> None:
    home = LocalHome(server.settings.home)
    home.write_server_info(ServerInfo(server.url, os.getpid(), 0.0))
    assert home.running() == home.server_info()
    # Another process's pid (a stale file whose port was reused): not ours.
    home.write_server_info(ServerInfo(server.url, os.getpid() + 1, 0.0))
    assert home.running() is None
    home.write_server_info(ServerInfo("http://127.0.0.1:9", os.getpid(), 0.0))
    assert home.running() is None


def test_a_server_that_dies_on_start_is_reported_at_once(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(UnreachableError, match="exited with status 3"):
        home.wait_until_up(process, None, timeout=20)


def test_a_command_whose_server_lost_the_race_uses_the_winner(tmp_path: Path) -> None:
    # Two commands on a cold home each start a server at once: one holds the home, the other
    # exits at once saying so, and both commands get the one that runs.
    home = LocalHome(tmp_path / "home")
    env = {**os.environ, "AIPLANE_TELEMETRY": "off"}
    env.pop("AIPLANE_URL", None)
    first, second = home.spawn(env), home.spawn(env)
    try:
        infos = [home.wait_until_up(p, None) for p in (first, second)]
        assert infos[0] == infos[1] == home.running()
        assert infos[0].pid in (first.pid, second.pid)
        loser = second if infos[0].pid == first.pid else first
        assert loser.wait(20) == HOME_TAKEN_EXIT
        assert "already runs" in home.log_file.read_text()
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.terminate()
                process.wait(20)


def test_a_home_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    held = home.claim()
    assert held is not None
    # flock locks belong to the open file: another process cannot take it while it is open.
    script = (
        "import pathlib, sys\n"
        "from aiplane.discovery import LocalHome\n"
        "sys.exit(0 if LocalHome(pathlib.Path(sys.argv[1])).claim() is None else 1)\n"
    )
    probe = [sys.executable, "-c", script, str(tmp_path)]
    assert subprocess.run(probe, check=False).returncode == 0
    held.close()
    assert subprocess.run(probe, check=False).returncode == 1


def test_a_background_start_over_a_taken_database_names_its_holder(tmp_path: Path) -> None:
    # Another control plane, with another home, runs over the database this home is given.
    database = f"sqlite:///{tmp_path}/shared/aiplane.db"
    settings = Settings(
        home=tmp_path / "first", database_url=database, catalog_dir=None, telemetry="off"
    )
    home = LocalHome(tmp_path / "second")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLANE_")}
    env.update(AIPLANE_TELEMETRY="off", AIPLANE_DATABASE_URL=database)
    with EmbeddedServer(settings) as first:
        process = home.spawn(env)
        with pytest.raises(UnreachableError) as failed:
            home.wait_until_up(process, None)
    message = str(failed.value)
    assert process.returncode == DATABASE_TAKEN_EXIT
    assert "exited with status" not in message
    assert "another control plane already runs over the database" in message
    assert f"pid {os.getpid()} on host" in message
    assert f"home {tmp_path / 'first'}" in message
    assert f"serving {first.url}" in message


def test_a_database_taken_exit_without_its_message_points_at_the_log(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    home.log_file.write_text("something else entirely\n")
    process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({DATABASE_TAKEN_EXIT})"])
    with pytest.raises(UnreachableError) as failed:
        home.wait_until_up(process, None, timeout=20)
    message = str(failed.value)
    assert "another control plane holds its database (AIPLANE_DATABASE_URL)" in message
    assert str(home.log_file) in message
