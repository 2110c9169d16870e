"""A launcher killed (SIGKILL) between its launch marker and its supervisor: the next launch of
the same attempt takes the marker over and starts the replica, and the command runs once.

The control plane is a child process that kills itself at the fault point (a patched step of
the launcher sends it SIGKILL), so the lock it held is dropped by the kernel as in a real crash.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, ReplicaStatus
from aiplane.backends.process import runfiles
from aiplane.backends.registry import build_backend
from tests.backends.helpers import make_spec, wait_status

# argv: backend, work root, command, fault ("before_supervisor" or "before_marker_update").
_DIES_MID_LAUNCH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from aiplane.backends.process import launcher, runfiles
    from aiplane.backends.registry import build_backend
    from tests.backends.helpers import make_spec

    name, work_root, command, fault, *token = sys.argv[1:]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if fault == "before_supervisor":
        launcher.subprocess.Popen = die  # the marker exists, no supervisor was started
    else:
        write = runfiles.write_json
        def write_json(path, data):
            if path.name == runfiles.LAUNCH and "supervisor_pid" in data:
                die()  # the supervisor was started, the marker does not name it
            write(path, data)
        runfiles.write_json = write_json
    spec = make_spec(command=command, replicas=1, token=(lambda: token[0]) if token else None)
    build_backend(name, Path(work_root)).launch(spec)
    """
)


def _launch_and_die(
    backend: Backend, work_root: Path, command: str, fault: str, *token: str
) -> None:
    args = [backend.name, str(work_root), command, fault, *token]
    plane = subprocess.run([sys.executable, "-c", _DIES_MID_LAUNCH, *args], check=False, timeout=60)
    assert plane.returncode == -9, "the control plane was to be killed mid-launch"


@pytest.mark.parametrize("fault", ["before_supervisor", "before_marker_update"])
def test_a_launch_left_half_done_by_a_kill_is_taken_over_and_runs_once(
    backend: Backend, work_root: Path, tmp_path: Path, fault: str
) -> None:
    ran = tmp_path / "ran"
    _launch_and_die(backend, work_root, f"echo x >> {ran}", fault)
    marker = runfiles.read_json(work_root / "runs" / "run-1" / "a0" / "r0" / runfiles.LAUNCH)
    assert marker is not None and "supervisor_pid" not in marker

    adopter = build_backend(backend.name, work_root)
    handle = adopter.launch(make_spec(command=f"echo x >> {ran}", replicas=1))
    report = wait_status(adopter, handle, ReplicaStatus.EXITED)

    assert report.exit_code == 0, report
    assert ran.read_text() == "x\n"  # once, even with a first supervisor that came up
    # Launching once more finds the replica started: no third run.
    assert adopter.launch(make_spec(command=f"echo x >> {ran}", replicas=1)) == handle
    assert wait_status(adopter, handle, ReplicaStatus.EXITED).exit_code == 0
    assert ran.read_text() == "x\n"


_PRINTS_TOKEN = 'echo "TOKEN_FILE=$AIPLANE_TOKEN_FILE TOKEN=$(cat "$AIPLANE_TOKEN_FILE")"'


def test_a_takeover_gives_the_command_its_own_token_file(backend: Backend, work_root: Path) -> None:
    _launch_and_die(backend, work_root, _PRINTS_TOKEN, "before_supervisor", "first-token")
    rundir = work_root / "runs" / "run-1" / "a0" / "r0"
    assert (rundir / runfiles.TOKEN).read_text() == "first-token"

    adopter = build_backend(backend.name, work_root)
    spec = make_spec(command=_PRINTS_TOKEN, replicas=1, token=lambda: "second-token")
    handle = adopter.launch(spec)
    assert wait_status(adopter, handle, ReplicaStatus.EXITED).exit_code == 0

    # Its own file, named in its environment, not ``token`` rewritten: the first launch's
    # supervisor, had it come up, may have handed that one to the pool's run_as user already.
    assert f"TOKEN_FILE={rundir / 'token.1'} TOKEN=second-token" in adopter.logs(handle)
    # Gone once the command ended, the first launch's as well.
    assert sorted(p.name for p in rundir.iterdir() if p.name.startswith("token")) == []


def test_a_takeover_leaves_no_environment_file_behind(backend: Backend, work_root: Path) -> None:
    # The first launch wrote env.json (with the workload's secrets) and died before starting
    # the supervisor that would have read and deleted it.
    _launch_and_die(backend, work_root, "true", "before_supervisor")
    rundir = work_root / "runs" / "run-1" / "a0" / "r0"
    assert (rundir / runfiles.ENV).exists()

    adopter = build_backend(backend.name, work_root)
    handle = adopter.launch(make_spec(command="true", replicas=1))
    assert wait_status(adopter, handle, ReplicaStatus.EXITED).exit_code == 0

    assert sorted(p.name for p in rundir.iterdir() if p.name.startswith("env")) == []
