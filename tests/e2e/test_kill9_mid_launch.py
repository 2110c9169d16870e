"""`kill -9` of a real control plane between a replica's launch marker and its supervisor's
start, then a restart: the run is relaunched and its command runs once (decision 0032).

The fault point is reached deterministically: a ``sitecustomize`` on the server's PYTHONPATH
(test code, not the product's) makes the process SIGKILL itself when it is about to start a
replica supervisor, i.e. after the marker was written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.server_process import ServerProcess, wait_until
from tests.e2e.test_crash_recovery import FLEET, state, submit, workload

pytestmark = pytest.mark.slow

_DIE_AT_SUPERVISOR_START = """
import os, signal, subprocess

_popen = subprocess.Popen


class _DiesAtLaunch(_popen):
    def __init__(self, args, *rest, **kw):
        if "aiplane.backends.process.supervise" in list(map(str, args)):
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(args, *rest, **kw)


subprocess.Popen = _DiesAtLaunch
"""


# A liveness bound, not a timing: the start takes seconds, far longer on a loaded machine.
_START_S = 120


def test_a_kill_between_the_launch_marker_and_the_supervisor_relaunches_the_run(
    tmp_path: Path,
) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_DIE_AT_SUPERVISOR_START)
    pythonpath = os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])
    dying = ServerProcess(tmp_path, env={"PYTHONPATH": pythonpath}).start(_START_S)
    ran = tmp_path / "ran"
    try:
        with dying.client() as c:
            assert c.put("/fleet", json={"spec": FLEET, "source": "fleet.yaml"}).status_code == 200
            job_id = submit(c, workload("once", f"echo x >> {ran}"))
        assert dying.proc is not None
        assert dying.proc.wait(30) == -9  # died at the fault point
    finally:
        dying.stop()
    [marker] = (tmp_path / "work" / "runs").glob("*/a*/r*/launch.json")
    assert "supervisor_pid" not in marker.read_text()

    server = ServerProcess(tmp_path).start(_START_S)
    try:
        with server.client() as c:
            ended = wait_until(
                lambda: (s := state(c, job_id))["state"] in ("succeeded", "failed") and s,
                60,
                "the job to end",
            )
        assert ended["state"] == "succeeded", ended["reason"]
        assert ran.read_text() == "x\n"
    finally:
        server.stop()
