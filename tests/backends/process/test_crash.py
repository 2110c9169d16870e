"""A control plane killed with SIGKILL: its replicas live on, and a later one adopts them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from aiplane.backends.base import Backend, ReplicaStatus
from aiplane.backends.process import procfs
from aiplane.backends.registry import build_backend
from tests.backends.helpers import make_spec, supervisor_record, wait_status, wait_until

# Launches one replica (and optionally cancels it), writes the handle, then waits to be killed.
_CONTROL_PLANE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from aiplane.backends.base import LaunchSpec
    from aiplane.backends.registry import build_backend

    name, work_root, command, cancel_grace, out = sys.argv[1:]
    backend = build_backend(name, Path(work_root))
    spec = LaunchSpec(run_id="crash", job_id="job", attempt=0, replica=0, replicas=1,
                      command=command, workdir=None, env={}, site="s", pool="p", node="n",
                      accelerator=None, gpus=0.0)
    handle = backend.launch(spec)
    while backend.poll(handle).status != "running" or "ready" not in backend.logs(handle):
        time.sleep(0.02)
    if cancel_grace:
        backend.cancel(handle, grace_s=float(cancel_grace))
    Path(out + ".tmp").write_text(json.dumps(handle))
    Path(out + ".tmp").rename(out)
    time.sleep(600)
    """
)


def _run_and_kill_control_plane(
    backend: Backend, work_root: Path, tmp_path: Path, command: str, cancel_grace: str = ""
) -> dict[str, Any]:
    out = tmp_path / "handle.json"
    args = [backend.name, str(work_root), command, cancel_grace, str(out)]
    plane = subprocess.Popen([sys.executable, "-c", _CONTROL_PLANE, *args])
    try:

        def written() -> str:
            assert plane.poll() is None, f"the control plane exited early ({plane.returncode})"
            return out.read_text() if out.exists() else ""

        handle: dict[str, Any] = json.loads(wait_until(written, what="the handle"))
    finally:
        plane.send_signal(signal.SIGKILL)
        plane.wait()
    return handle


def test_replica_survives_a_killed_control_plane(
    backend: Backend, work_root: Path, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    command = f"echo ready; while [ ! -e {stop} ]; do sleep 0.05; done; echo done"
    handle = _run_and_kill_control_plane(backend, work_root, tmp_path, command)
    adopter = build_backend(backend.name, work_root)
    assert adopter.poll(handle).status == ReplicaStatus.RUNNING
    stop.touch()
    report = wait_status(adopter, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0
    assert "done" in adopter.logs(handle)
    assert adopter.launch(make_spec(run_id="crash", command="false")) == handle


def test_cancel_completes_after_the_control_plane_dies(
    backend: Backend, work_root: Path, tmp_path: Path
) -> None:
    # TERM is ignored, so only the supervisor's own escalation to SIGKILL can end it.
    command = "trap '' TERM; echo ready; sleep 60"
    handle = _run_and_kill_control_plane(backend, work_root, tmp_path, command, cancel_grace="0.5")
    adopter = build_backend(backend.name, work_root)
    report = wait_status(adopter, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGKILL
    assert "cancelled" in report.detail
    record = supervisor_record(handle)
    assert not procfs.group_members(record["child_pgid"], record["session"])
