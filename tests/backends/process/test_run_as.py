"""A pool's ``run_as`` user runs the command; the supervisor stays ours (decision 0036).

The probe that found the fault: a workload's command ran as the control plane's user, so it
could read the 0600 credentials file in the control plane's home. Run as ``nobody``, it cannot,
and still reads its own token and writes its checkpoints.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, Handle, ReplicaStatus
from aiplane.backends.process import runfiles
from aiplane.backends.process.backend import ProcessBackend
from aiplane.backends.process.config import ProcessConfig, RunAs
from aiplane.backends.registry import build_backend
from tests.backends.drivers import kill_replicas
from tests.backends.helpers import make_spec, supervisor_record, wait_status, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")

TOKEN = "attempt-token-1234"
CREDENTIALS = "admin-credentials-never-shown"
PROBE = (
    'echo "UID=$(id -u) GID=$(id -g)"; '
    'cat "$CREDENTIALS" || echo "CREDENTIALS UNREADABLE"; '
    'echo "TOKEN=$(cat "$AIPLANE_TOKEN_FILE")"; '
    'echo saved > "$AIPLANE_CHECKPOINT_DIR/step-1" && echo CHECKPOINT WRITTEN; '
    "sleep 30"
)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A control plane's home as ``discovery.make_home`` makes it: 0700, credentials 0600."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    credentials = home / "credentials.json"
    credentials.write_text(CREDENTIALS)
    credentials.chmod(0o600)
    yield home
    kill_replicas(home / "work")


@pytest.mark.parametrize("member", ["local", "emulated"])
def test_the_command_runs_as_the_pool_user_and_cannot_read_the_homes_credentials(
    member: str, home: Path
) -> None:
    nobody = pwd.getpwnam("nobody")
    backend = build_backend(member, home / "work", {"run_as": {"user": "nobody"}})
    checkpoints = home / "checkpoints" / "job-1"
    spec = make_spec(
        command=PROBE,
        env={"CREDENTIALS": str(home / "credentials.json")},
        checkpoint_dir=str(checkpoints),
        token=lambda: TOKEN,
    )
    handle = backend.launch(spec)
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    record = supervisor_record(handle)
    # The supervisor is still ours: it can signal the group and record the exit.
    assert _uid(record["pid"]) == 0
    log = _wait_log(backend, handle, "CHECKPOINT")
    assert f"UID={nobody.pw_uid} GID={nobody.pw_gid}" in log, log
    assert "CREDENTIALS UNREADABLE" in log and CREDENTIALS not in log, log
    assert f"TOKEN={TOKEN}" in log, log
    assert "CHECKPOINT WRITTEN" in log, log
    written = checkpoints / "step-1"
    assert written.read_text() == "saved\n" and written.stat().st_uid == nobody.pw_uid
    # Handed over, and still the user's alone.
    assert (Path(handle["dir"]) / runfiles.TOKEN).stat().st_mode & 0o077 == 0
    # The run directory stays ours: records in it decide which pids we signal.
    assert Path(handle["dir"]).stat().st_uid == 0
    assert home.stat().st_mode & 0o777 == 0o700
    backend.cancel(handle, grace_s=0.1)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert "cancelled" in report.detail
    assert not (Path(handle["dir"]) / runfiles.TOKEN).exists()


def test_a_user_removed_since_the_fleet_was_applied_fails_the_replica_with_a_reason(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = build_backend("local", home / "work", {"run_as": {"user": "nobody"}})
    # As if the user had gone: the supervisor looks the name up again and finds nothing.
    assert isinstance(backend, ProcessBackend)
    gone = ProcessConfig(run_as=RunAs("no-such-user-h10", "nogroup", 1, 1))
    monkeypatch.setattr(backend._launcher, "config", gone)
    handle = backend.launch(make_spec(command="echo SHOULD-NOT-RUN"))
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 127
    log = backend.logs(handle)
    assert "cannot run the command as no-such-user-h10" in log and "SHOULD-NOT-RUN" not in log


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no uid for {pid}")


def _wait_log(backend: Backend, handle: Handle, marker: str) -> str:
    def seen() -> str | None:
        text = backend.logs(handle)
        return text if marker in text else None

    return wait_until(seen, what=f"{marker!r} in the output")
