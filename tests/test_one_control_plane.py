"""One control plane per home and per database (decision 0035), with real ``aiplane up``
processes: a second one is refused with a message naming the first, the first keeps working,
and a first one killed with SIGKILL leaves nothing that blocks the next start.

PostgreSQL runs when ``AIPLANE_TEST_POSTGRES_URL`` names a server (a database of its own per
test); SQLite always.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from aiplane.client import Client
from aiplane.config import Settings
from aiplane.discovery import DATABASE_TAKEN_EXIT, HOME_TAKEN_EXIT, LocalHome, ServerInfo
from aiplane.listening import bind
from aiplane.server import EmbeddedServer, _LockLost, _run
from aiplane.store.sql.database_lock import (
    AdvisoryLock,
    DatabaseTakenError,
    Holder,
    hold_database,
)
from aiplane.wiring import ControlPlane
from tests.builders import local_fleet_document

START_S = 60.0  # liveness bounds, not timing assertions


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shared/aiplane.db"
        return
    raw = os.environ.get("AIPLANE_TEST_POSTGRES_URL")
    if not raw:
        pytest.skip("AIPLANE_TEST_POSTGRES_URL is not set")
    server = make_url(raw).set(drivername="postgresql+psycopg")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"aiplane_single_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _env(home: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLANE_")}
    env.update(AIPLANE_HOME=str(home), AIPLANE_TELEMETRY="off")
    env["AIPLANE_SCHEDULER_INTERVAL_S"] = env["AIPLANE_RECONCILER_INTERVAL_S"] = "0.1"
    if database_url is not None:
        env["AIPLANE_DATABASE_URL"] = database_url
    return env


def _up(home: Path, database_url: str | None = None) -> subprocess.Popen[str]:
    """``aiplane up`` on any free port over ``home``."""
    return subprocess.Popen(
        [sys.executable, "-m", "aiplane", "up", "--port", "0", "--quiet"],
        env=_env(home, database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running(home: Path, process: subprocess.Popen[str]) -> ServerInfo:
    """The server ``process`` runs over ``home``, once it answers."""
    local = LocalHome(home)
    deadline = time.monotonic() + START_S
    while True:
        info = local.running()
        if info is not None and info.pid == process.pid:
            return info
        assert process.poll() is None, f"exited {process.returncode}: {process.communicate()}"
        assert time.monotonic() < deadline, "the control plane did not start"
        time.sleep(0.05)


def _started(home: Path, process: subprocess.Popen[str]) -> bool:
    """Whether ``process`` came up over ``home`` (False: it exited)."""
    deadline = time.monotonic() + START_S
    while process.poll() is None:
        info = LocalHome(home).running()
        if info is not None and info.pid == process.pid:
            return True
        assert time.monotonic() < deadline, "the control plane did not start"
        time.sleep(0.05)
    return False


def _refused(process: subprocess.Popen[str]) -> tuple[int, str]:
    _out, err = process.communicate(timeout=START_S)
    return process.returncode, " ".join(err.split())  # Rich wraps long lines


def _stop(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=10)


def _works(home: Path, info: ServerInfo) -> None:
    """The control plane answers an authenticated write and runs a job to its end; ``home``
    holds the admin token (the first home over a database: only the first start makes it)."""
    with Client(info.url, LocalHome(home).token()) as client:
        client.fleet.apply(local_fleet_document(), source="fleet.yaml")
        spec = {
            "name": "still-here",
            "team": "a",
            "kind": "batch",
            "resources": {"cpus": 1, "memory_gib": 1},
            "run": "true",
        }
        job = client.jobs.submit(spec)
        deadline = time.monotonic() + START_S
        while client.jobs.show(job.id).state not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, "the job did not end"
            time.sleep(0.1)
        assert client.jobs.show(job.id).state == "succeeded"


def test_a_second_control_plane_on_one_database_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    first_home, second_home = tmp_path / "first", tmp_path / "second"
    first = _up(first_home, database_url)
    second: subprocess.Popen[str] | None = None
    try:
        info = _running(first_home, first)
        second = _up(second_home, database_url)
        status, says = _refused(second)
        assert status == DATABASE_TAKEN_EXIT, says
        assert "another control plane already runs over the database" in says
        assert f"pid {first.pid} on host" in says
        assert f"home {first_home}" in says
        assert f"serving {info.url}" in says
        assert "started 20" in says
        assert "Traceback" not in says
        # The refused one wrote nothing over its home's discovery files.
        assert not (second_home / "server.json").exists()
        assert not (second_home / "credentials").exists()
        _works(first_home, info)
        assert first.poll() is None
        # Killed outright, the first leaves nothing that blocks the next start.
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        deadline = time.monotonic() + START_S
        while True:
            # PostgreSQL ends the dead process's session soon, not at once: retried, bounded.
            second = _up(second_home, database_url)
            if _started(second_home, second):
                break
            status, says = _refused(second)
            assert status == DATABASE_TAKEN_EXIT, says
            assert time.monotonic() < deadline, "the killed one's lock outlived it"
            time.sleep(0.2)
        _works(first_home, _running(second_home, second))
    finally:
        _stop(first, *([second] if second is not None else []))


def test_two_started_at_once_over_one_home_leave_exactly_one_running(tmp_path: Path) -> None:
    # Three homes, two ``aiplane up`` each, all six started at once (a contended machine makes
    # the race likelier, and the rounds cost one start rather than three).
    homes = [tmp_path / f"home-{attempt}" for attempt in range(3)]
    pairs = [(home, [_up(home), _up(home)]) for home in homes]
    try:
        for home, processes in pairs:
            info = _running(home, processes[0]) if _wins(home, processes[0]) else None
            if info is None:
                info = _running(home, processes[1])
            winner = next(p for p in processes if p.pid == info.pid)
            loser = next(p for p in processes if p is not winner)
            status, says = _refused(loser)
            assert status == HOME_TAKEN_EXIT, says
            assert "a control plane already runs" in says
            assert f"pid {winner.pid}" in says
            assert winner.poll() is None
    finally:
        _stop(*(p for _home, processes in pairs for p in processes))


def _wins(home: Path, process: subprocess.Popen[str]) -> bool:
    """Whether ``process`` is the one that holds ``home`` (the other exits at once)."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        info = LocalHome(home).running()
        if info is not None:
            return info.pid == process.pid
        time.sleep(0.05)
    raise AssertionError("neither control plane started")


def test_a_control_plane_killed_over_its_home_blocks_no_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _up(home)
    again: subprocess.Popen[str] | None = None
    try:
        _running(home, first)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # What it leaves: its lock file and a server file naming a dead process.
        assert (home / "server.lock").exists() and (home / "server.json").exists()
        again = _up(home)
        info = _running(home, again)
        _works(home, info)
    finally:
        _stop(first, *([again] if again is not None else []))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_control_plane_whose_database_was_taken_stops_its_loops(
    database_url: str, tmp_path: Path
) -> None:
    # Its lock's session ends (a database restart, a network cut) and another control plane
    # takes the lock before it can take it again: it must not go on scheduling beside that one.
    settings = Settings(
        home=tmp_path / "home", database_url=database_url, catalog_dir=None, telemetry="off"
    )
    with EmbeddedServer(settings) as server:
        lock = server.database_lock
        assert isinstance(lock, AdvisoryLock)
        engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE left(application_name, 12) = 'aiplane pid ' "
                    # This database's only: other tests' control planes may share the server.
                    "AND datname = current_database()"
                )
            deadline = time.monotonic() + START_S
            other = None
            while other is None:  # until the terminated session has let go
                try:
                    other = hold_database(database_url, Holder("host-b", 7, "/homes/b", 0.0))
                except DatabaseTakenError:
                    assert time.monotonic() < deadline, "the terminated session kept the lock"
                    time.sleep(0.05)
            try:
                assert lock.check() is False
                assert server.lost.happened
                assert server.lost.holder == Holder("host-b", 7, "/homes/b", 0.0)
                loops = {"aiplane-scheduler", "aiplane-reconciler", "aiplane-costs"}
                assert not loops & {t.name for t in threading.enumerate()}
            finally:
                assert other is not None
                other.close()
        finally:
            engine.dispose()


def _terminate_lock_sessions(database_url: str) -> None:
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE left(application_name, 12) = 'aiplane pid ' "
                # This database's only: other tests' control planes may share the server.
                "AND datname = current_database()"
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_aiplane_up_stops_when_its_database_was_taken(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = _up(home, database_url)
    other = None
    try:
        _running(home, process)
        deadline = time.monotonic() + START_S
        while other is None:
            _terminate_lock_sessions(database_url)
            try:
                other = hold_database(database_url, Holder("host-b", 7, "/homes/b", 0.0))
            except DatabaseTakenError:  # its session not gone yet, or re-taken: again
                assert time.monotonic() < deadline, "could not take the lock from it"
                time.sleep(0.05)
        status, says = _refused(process)
        assert status == DATABASE_TAKEN_EXIT, says
        assert "another control plane took this database while its lock was lost" in says
        assert "pid 7 on host host-b, home /homes/b" in says
        assert not (home / "server.json").exists()
    finally:
        _stop(process)
        if other is not None:
            other.close()


@pytest.mark.parametrize(
    ("database", "reason"),
    [
        ("/proc/aiplane.db", "No such file or directory"),
        ("{tmp}/a-file/aiplane.db", "File exists"),
    ],
)
def test_aiplane_up_over_an_sqlite_file_that_cannot_be_locked_says_why(
    tmp_path: Path, database: str, reason: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    path = database.format(tmp=tmp_path)
    process = _up(tmp_path / "home", f"sqlite:///{path}")
    try:
        status, says = _refused(process)
    finally:
        _stop(process)
    assert status not in (0, DATABASE_TAKEN_EXIT), says
    assert "Traceback" not in says
    # Rich may wrap inside a long path: compared without the spaces it adds.
    assert f"{path}.lock:{reason}".replace(" ", "") in says.replace(" ", "")
    assert "AIPLANE_DATABASE_URL" in says


class _Plane:
    """Stands for a control plane: records whether it was started."""

    started = False

    def start(self) -> dict[str, int]:
        self.started = True
        return {}


def test_a_lock_lost_before_the_start_recovers_and_starts_nothing(tmp_path: Path) -> None:
    lost = _LockLost()
    lost(Holder("host-b", 7, "/homes/b", 0.0))  # taken while the store was being opened
    plane = _Plane()
    announced: list[str] = []
    sock = bind("127.0.0.1", 0)
    try:
        _run(
            cast(ControlPlane, plane),
            sock,
            LocalHome(tmp_path),
            "127.0.0.1",
            lambda url, _token, _recovered: announced.append(url),
            None,
            lost,
        )
    finally:
        sock.close()
    assert not plane.started
    assert announced == []
    assert not (tmp_path / "server.json").exists()


def test_an_embedded_server_whose_lock_was_lost_before_its_start_refuses_it(
    tmp_path: Path,
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path}/aiplane.db",
        catalog_dir=None,
        telemetry="off",
    )
    server = EmbeddedServer(settings)
    server.lost(Holder("host-b", 7, "/homes/b", 0.0))
    with pytest.raises(DatabaseTakenError, match="pid 7 on host host-b"):
        server.__enter__()
    loops = {"aiplane-scheduler", "aiplane-reconciler", "aiplane-costs", "aiplane-api"}
    assert not loops & {t.name for t in threading.enumerate()}
    # Everything it held is let go: another one takes the database at once.
    again = hold_database(settings.database_url, Holder("host-c", 8, "/homes/c", 0.0))
    assert again is not None
    again.close()
