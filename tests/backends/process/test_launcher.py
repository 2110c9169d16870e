"""Launcher states that the contract suite cannot reach with a healthy supervisor."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aiplane.backends.base import ReplicaStatus
from aiplane.backends.process import runfiles
from aiplane.backends.process.launcher import STARTING_WINDOW_S, ProcessLauncher
from aiplane.core.secrets_env import workload_environment
from tests.backends.helpers import make_spec


def _environment() -> dict[str, str]:
    return workload_environment(os.environ)


def _marker_only(
    tmp_path: Path, launched_at: float, **extra: object
) -> tuple[ProcessLauncher, dict[str, str]]:
    """A run directory as a launcher leaves it when it dies before starting the supervisor."""
    launcher = ProcessLauncher(tmp_path, "local", emulated=False, environment=_environment)
    rundir = launcher.run_dir(make_spec())
    rundir.mkdir(parents=True)
    handle = {"dir": str(rundir)}
    runfiles.write_json(
        rundir / runfiles.LAUNCH, {"handle": handle, "launched_at": launched_at, **extra}
    )
    return launcher, handle


def test_fresh_marker_without_supervisor_is_starting(tmp_path: Path) -> None:
    launcher, handle = _marker_only(tmp_path, time.time())
    assert launcher.poll(handle).status == ReplicaStatus.STARTING


def test_stale_marker_without_supervisor_is_lost(tmp_path: Path) -> None:
    launcher, handle = _marker_only(tmp_path, time.time() - STARTING_WINDOW_S - 1)
    report = launcher.poll(handle)
    assert report.status == ReplicaStatus.LOST
    assert "never started" in report.detail


def test_dead_supervisor_that_never_recorded_itself_is_lost(tmp_path: Path) -> None:
    # pid 2**22 + 1 is above the kernel's pid_max limit, so no such process can exist.
    launcher, handle = _marker_only(tmp_path, time.time(), supervisor_pid=2**22 + 1)
    assert launcher.poll(handle).status == ReplicaStatus.LOST


def test_launch_after_a_marker_returns_the_stored_handle(tmp_path: Path) -> None:
    launcher, handle = _marker_only(tmp_path, time.time())
    assert launcher.launch(make_spec(command="echo never"), env={}) == handle


def test_cancel_before_the_supervisor_starts_means_the_command_never_runs(tmp_path: Path) -> None:
    launcher = ProcessLauncher(tmp_path, "local", emulated=False, environment=_environment)
    spec = make_spec(command=f"touch {tmp_path / 'ran'}")
    rundir = launcher.run_dir(spec)
    rundir.mkdir(parents=True)
    runfiles.write_json(rundir / runfiles.CANCEL, {"grace_s": 1})
    handle = launcher.launch(spec, env={})
    deadline = time.monotonic() + 15
    while launcher.poll(handle).status != ReplicaStatus.EXITED:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert "cancelled" in launcher.poll(handle).detail
    assert not (tmp_path / "ran").exists()
