"""Files under AIPLANE_HOME that hold secrets are readable by their owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.config import Settings
from aiplane.discovery import LocalHome, ServerInfo, make_home, write_private
from aiplane.wiring import SIGNING_KEY_FILE, ControlPlane


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


def test_a_home_that_exists_is_left_as_its_owner_made_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o750)
    make_home(home)
    assert _mode(home) == 0o750


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
