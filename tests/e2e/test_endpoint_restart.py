"""An endpoint survives a `kill -9` of the control plane: after the restart its replica is
adopted (the same run, the same address), the gateway serves from it again, and no second
replica is started.

A real `aiplane up` process runs the replica (examples/programs/serve.py, a stdlib Open
Inference Protocol server) on the local backend; the requests go through the gateway on the
control plane's own port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builders import local_fleet_document
from tests.e2e.server_process import ServerProcess, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FLEET = local_fleet_document(teams=[{"name": "qa"}])
ENDPOINT = {
    "name": "echo",
    "team": "qa",
    "command": "python3 serve.py",
    "sites": [{"site": "here", "min": 1, "max": 1}],
    "resources": {"cpus": 1, "memory_gib": 1},
    "drain": 0,
}
BODY = {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [1.0] * 8}]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "home")
    (tmp_path / "home").mkdir()
    yield proc.start()
    proc.stop()


def ready_replicas(client: httpx.Client) -> list[dict[str, Any]]:
    shown = client.get("/endpoints/echo")
    assert shown.status_code == 200, shown.text
    return [r for s in shown.json()["sites"] for r in s["replicas"] if r["ready"]]


def infer(server: ServerProcess) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.post(f"{server.url}/v2/models/echo/infer", json=BODY, headers=headers, timeout=10)


def test_an_endpoint_replica_is_adopted_after_a_kill_9_of_the_control_plane(
    server: ServerProcess,
) -> None:
    with server.client() as c:
        assert c.put("/fleet", json={"spec": FLEET, "source": "fleet.yaml"}).status_code == 200
        body = {
            "spec": ENDPOINT,
            "source": "echo.yaml",
            "workdir": str(ROOT / "examples" / "programs"),
        }
        applied = c.put("/endpoints/echo", json=body)
        assert applied.status_code == 200, applied.text
        [replica] = wait_until(lambda: ready_replicas(c), 90, "a ready replica")
    answer = wait_until(lambda: (a := infer(server)).status_code == 200 and a, 10, "an answer")
    assert answer.headers["x-aiplane-replica"] == replica["run_id"]

    server.kill9()
    # The replica does not depend on the control plane: it still answers at its address.
    alone = httpx.post(f"http://{replica['address']}/v2/models/echo/infer", json=BODY, timeout=5)
    assert alone.status_code == 200

    server.start()
    with server.client() as c:
        again = wait_until(lambda: ready_replicas(c), 60, "the adopted replica ready")
        assert [r["run_id"] for r in again] == [replica["run_id"]]
        assert again[0]["address"] == replica["address"]
        answer = wait_until(lambda: (a := infer(server)).status_code == 200 and a, 10, "an answer")
        assert answer.headers["x-aiplane-replica"] == replica["run_id"]
        # Nothing else was started for it: one serve job, still the same.
        jobs = c.get("/jobs", params={"limit": 50}).json()["items"]
        serving = [j for j in jobs if j["kind"] == "serve"]
        assert [j["id"] for j in serving] == [replica["job_id"]], serving
        assert c.delete("/endpoints/echo").status_code in (200, 204)

        def ended() -> bool:
            state = c.get(f"/jobs/{replica['job_id']}").json()["state"]
            return state in ("cancelled", "succeeded", "failed")

        wait_until(ended, 30, "the replica's job to end")
