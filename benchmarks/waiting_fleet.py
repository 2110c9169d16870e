"""The control plane the API benchmarks start, and the fleet they apply first: a submission
needs one (decision 0031).

It has one pool the benchmarks' work fits (8 x H100-80GB, emulated), so every submission of
one H100 is accepted, and gives team ``bench`` a quota of zero H100s, so every job then waits
for quota: nothing is placed or launched, and the figures stay those of the API and the store
(with the scheduler looking over the queue, as a control plane with waiting work does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

TEAM = "bench"
# The resources of the benchmarks' workloads: what the pool fits and the quota holds back.
RESOURCES = {"accelerators": "H100:1", "cpus": 4, "memory_gib": 16}

DOCUMENT: dict[str, Any] = {
    "sites": [
        {
            "name": "bench",
            "kind": "onprem",
            "region": "local",
            "jurisdiction": "EU",
            "pools": [
                {
                    "name": "h100",
                    "backend": "emulated",
                    "nodes": 1,
                    "node": {"accelerator": "H100-80GB", "gpus": 8, "cpus": 96, "memory_gib": 1024},
                    "pricing": {"model": "owned", "usd_per_node_hour": 0},
                }
            ],
        }
    ],
    "teams": [{"name": TEAM, "quota": {"H100-80GB": 0}}],
}


def apply_waiting_fleet(url: str, token: str) -> None:
    """Apply :data:`DOCUMENT` on the control plane at ``url`` with an operator's ``token``."""
    body = {"spec": DOCUMENT, "source": "waiting_fleet.py"}
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.put(url + "/api/v1/fleet", json=body, headers=headers, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"fleet apply failed: {response.status_code} {response.text}")


def settle(url: str, token: str, timeout_s: float = 300.0) -> None:
    """Return once the scheduler has seen the newest job (it waits for quota), so that what is
    timed next does not share the cores with the cycles the submissions woke."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=30) as client:
        items = client.get("/jobs", params={"limit": 1}).json()["items"]
        if not items:
            return
        newest = items[0]["id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            decisions = client.get(f"/jobs/{newest}/explain").json()["decisions"]
            if any(d["kind"] == "run.waiting" for d in decisions):
                return
            time.sleep(0.2)
    raise SystemExit(f"the scheduler did not see job {newest} within {timeout_s:g} s")


def start_server(
    home: Path, env: Mapping[str, str] | None = None, timeout_s: float = 60.0
) -> tuple[subprocess.Popen[bytes], str, str]:
    """`aiplane up` in its own process under ``home`` (SQLite there unless ``env`` names an
    AIPLANE_DATABASE_URL), with ``env`` over ours; (process, URL, admin token) once it answers."""
    child = {**os.environ, "AIPLANE_HOME": str(home)}
    child.pop("AIPLANE_DATABASE_URL", None)
    child.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiplane", "up", "--port", "0", "--quiet"],
        env=child,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            info = json.loads((home / "server.json").read_text())
            token = json.loads((home / "credentials").read_text())["token"]
            httpx.get(info["url"] + "/api/v1/health", timeout=1).raise_for_status()
            return proc, info["url"], token
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")
