"""`kill -9` of the control plane with runs active, then a restart: nothing is unaccounted for.

A real `aiplane up` process runs real replicas on the local backend. While it is dead, one
replica finishes and another is killed outright. After the restart: the survivor is adopted
and still controllable, the finished one succeeded, the killed one failed with the reason,
and queued work is still queued and runs once there is room.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server_process import ServerProcess, wait_until

pytestmark = pytest.mark.slow

FLEET = {
    "sites": [
        {
            "name": "here",
            "kind": "onprem",
            "region": "local",
            "jurisdiction": "EU",
            "pools": [
                {
                    "name": "cpu",
                    "backend": "local",
                    "nodes": 1,
                    "node": {"cpus": 3, "memory_gib": 8},
                    "pricing": {"model": "owned", "usd_per_node_hour": 0.5},
                }
            ],
        }
    ]
}


def workload(name: str, run: str, cpus: float = 1) -> dict[str, Any]:
    return {
        "name": name,
        "team": "qa",
        "kind": "batch",
        "resources": {"cpus": cpus, "memory_gib": 1},
        "run": run,
    }


def submit(client: httpx.Client, spec: dict[str, Any]) -> str:
    response = client.post("/jobs", json={"spec": spec})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def state(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path)
    yield proc
    proc.stop()


def supervisor_files(home: Path, job_id: str) -> list[dict[str, Any]]:
    run_id = "r-" + job_id[2:]
    files = sorted((home / "work" / "runs" / run_id).glob("a*/r*/supervisor.json"))
    return [json.loads(f.read_text()) for f in files]


def test_kill_9_and_restart_accounts_for_every_run(server: ServerProcess, tmp_path: Path) -> None:
    server.start()
    marker = tmp_path / "short-done"
    with server.client() as c:
        assert c.put("/fleet", json={"spec": FLEET, "source": "fleet.yaml"}).status_code == 200
        long_id = submit(c, workload("survivor", "echo started; sleep 120"))
        short_id = submit(c, workload("finishes-while-down", f"sleep 4; touch {marker}"))
        doomed_id = submit(c, workload("killed-while-down", "sleep 120"))
        queued_id = submit(c, workload("queued", "echo queued ran", cpus=3))
        for job_id in (long_id, short_id, doomed_id):

            def running(j: str = job_id) -> bool:
                return bool(state(c, j)["state"] == "running")

            wait_until(running, 30, f"{job_id} running")
        assert state(c, queued_id)["state"] == "pending"

    server.kill9()

    # While the control plane is dead: one replica ends by itself, one is killed outright.
    [doomed] = supervisor_files(tmp_path, doomed_id)
    os.kill(doomed["pid"], signal.SIGKILL)
    os.killpg(doomed["child_pgid"], signal.SIGKILL)
    wait_until(marker.exists, 30, "the short job to finish while the server is down")
    [survivor] = supervisor_files(tmp_path, long_id)
    assert alive(survivor["pid"])

    server.start()
    with server.client() as c:
        wait_until(lambda: state(c, short_id)["state"] == "succeeded", 15, "short job succeeded")
        failed = wait_until(
            lambda: (s := state(c, doomed_id))["state"] == "failed" and s, 15, "doomed job failed"
        )
        assert "lost" in failed["reason"]
        assert state(c, long_id)["state"] == "running"
        assert state(c, queued_id)["state"] == "pending"
        events = c.get(f"/jobs/{long_id}/events").json()
        assert any(e["kind"] == "run.adopted" for e in events)

        # The adopted run is still under control: cancel stops its processes.
        assert c.post(f"/jobs/{long_id}/cancel").json()["state"] == "cancelled"
        wait_until(lambda: not alive(survivor["pid"]), 15, "the survivor's supervisor to exit")
        wait_until(lambda: not alive(survivor["child_pid"]), 15, "the survivor's command to exit")

        # Room again: the queued job runs to completion.
        wait_until(lambda: state(c, queued_id)["state"] == "succeeded", 30, "queued job ran")
        logs = c.get(f"/jobs/{queued_id}/logs").json()
        assert "queued ran" in logs["replicas"][0]["text"]
