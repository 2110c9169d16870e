"""Files under AIPLANE_HOME that hold secrets are readable by their owner only."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.client import Client
from aiplane.config import Settings
from aiplane.discovery import LocalHome, ServerInfo, make_home, secure_home, write_private
from aiplane.server import EmbeddedServer
from aiplane.store.sql import SqlStore
from aiplane.wiring import SIGNING_KEY_FILE, ControlPlane
from tests.builders import local_fleet_document


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    # The widest umask: nothing may rely on the user's to keep these files private.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_home_we_create_is_the_owners_only(tmp_path: Path) -> None:
    home = tmp_path / "a" / "home"
    make_home(home)
    assert _mode(home) == 0o700


def test_a_client_leaves_a_home_that_exists_as_its_owner_made_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o750)
    make_home(home)
    assert _mode(home) == 0o750


def test_the_server_makes_an_existing_home_of_this_users_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    settings = Settings(home=home, database_url="memory://", catalog_dir=None, telemetry="off")
    ControlPlane.from_settings(settings).stop()
    assert _mode(home) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user needs root")
def test_the_server_leaves_another_users_home_as_it_is_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chown(home, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="aiplane.discovery"):
        secure_home(home)
    assert _mode(home) == 0o755
    assert f"AIPLANE_HOME {home} (mode 755) belongs to uid 65534" in caplog.text


FLEET = local_fleet_document()


def test_the_server_process_keeps_what_it_writes_to_its_owner(tmp_path: Path) -> None:
    # Started with the widest umask (the fixture's): the database, its WAL, the run directories
    # and the files a workload leaves in them are the owner's only all the same.
    home = LocalHome(tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLANE_")}
    env["AIPLANE_TELEMETRY"] = "off"
    env["AIPLANE_RECONCILER_INTERVAL_S"] = env["AIPLANE_SCHEDULER_INTERVAL_S"] = "0.1"
    process = home.spawn(env)
    try:
        info = home.wait_until_up(process, None)
        token = home.token()
        with Client(info.url, token) as client:
            _run_a_job_that_writes_a_file(client)
        paths = sorted(home.root.rglob("*"))
        names = {p.name for p in paths}
        assert "aiplane.db-wal" in names and "left-behind.txt" in names, names
        assert any(p.is_dir() and p.parent.name == "runs" for p in paths)
        wide = [f"{p} {_mode(p):o}" for p in paths if _mode(p) & 0o077]
        assert wide == []
    finally:
        process.terminate()
        process.wait(20)


def test_claiming_a_home_creates_it_private(tmp_path: Path) -> None:
    home = LocalHome(tmp_path / "home")
    lock = home.claim()
    assert lock is not None
    lock.close()
    assert _mode(home.root) == 0o700


def test_credentials_and_server_file_are_the_owners_only(tmp_path: Path) -> None:
    home = LocalHome(tmp_path / "home")
    make_home(home.root)
    home.write_token("aip_secret")
    home.write_server_info(ServerInfo("http://127.0.0.1:1", 1, 0.0))
    assert _mode(home.credentials_file) == 0o600
    assert _mode(home.server_file) == 0o600
    assert home.token() == "aip_secret"


def test_a_stale_temp_file_does_not_widen_the_credentials(tmp_path: Path) -> None:
    target = tmp_path / "credentials"
    stale = tmp_path / "credentials.tmp"
    stale.write_text("old")
    stale.chmod(0o644)
    write_private(target, "new")
    assert _mode(target) == 0o600


def test_the_control_plane_makes_its_home_and_signing_key_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, database_url="memory://", catalog_dir=None, telemetry="off")
    cp = ControlPlane.from_settings(settings)
    try:
        assert _mode(home) == 0o700
        assert _mode(home / SIGNING_KEY_FILE) == 0o600
    finally:
        cp.stop()


def test_an_embedded_server_keeps_what_it_writes_to_its_owner(tmp_path: Path) -> None:
    # In a host process with the widest umask (tests, benchmarks): the database, its WAL, its
    # lock file and a job's run directory are the owner's only, as ``aiplane up``'s are.
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home}/aiplane.db",
        catalog_dir=None,
        telemetry="off",
        scheduler_interval_s=0.1,
        reconciler_interval_s=0.1,
    )
    with EmbeddedServer(settings) as server, Client(server.url, server.token) as client:
        _run_a_job_that_writes_a_file(client)
        paths = sorted(home.rglob("*"))
        names = {p.name for p in paths}
        assert {"aiplane.db", "aiplane.db-wal", "aiplane.db.lock", "left-behind.txt"} <= names
        wide = [f"{p} {_mode(p):o}" for p in paths if _mode(p) & 0o077]
        assert wide == []
    # The host's umask is its own again.
    assert os.umask(0) == 0


def test_a_sqlite_database_is_made_the_owners_only_whatever_the_umask(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path}/db/aiplane.db")
    try:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            made = [tmp_path / "db" / n for n in ("aiplane.db", "aiplane.db-wal")]
            assert [f"{p.name} {_mode(p):o}" for p in made] == [
                "aiplane.db 600",
                "aiplane.db-wal 600",
            ]
    finally:
        store.close()


def _run_a_job_that_writes_a_file(client: Client) -> None:
    """Apply the fleet and run one job to success that leaves a file in its run directory."""
    client.fleet.apply(FLEET, source="fleet.yaml")
    spec = {
        "name": "w",
        "team": "a",
        "kind": "batch",
        "resources": {"cpus": 1, "memory_gib": 1},
        "run": "echo hello > left-behind.txt",
    }
    job = client.jobs.submit(spec)
    deadline = time.monotonic() + 60  # a liveness bound, not a timing assertion
    while client.jobs.show(job.id).state not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.1)
    assert client.jobs.show(job.id).state == "succeeded"
