"""How fast the gateway moves an edge site's traffic elsewhere when the site dies, and what
that costs in failed requests.

Two upstreams (``gateway_upstream.py``), one at an ``edge`` site (cheaper, 5 ms from the
users' region) and one at a ``cloud`` site (40 ms), both within the endpoint's 50 ms SLO, behind
the gateway (``gateway_static.py``). A client sends ``--rps`` requests per second from the
users' region for ``--seconds``; after ``--kill-at`` seconds the edge upstream is killed
(SIGKILL: no goodbye). Each answer says which replica served it (``x-aiplane-replica``) and
which were tried before it (``x-aiplane-tried``).

``reroute_s``: from the kill to the last request that was routed to the edge (tried there or
answered there); ``failed_requests``: answers other than 200 (the retry budget's overflow);
``requests``: all sent. One JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_gateway import TOKEN, free_port, wait_ready

HERE = Path(__file__).resolve().parent
BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}


async def load(
    url: str, rps: int, seconds: float, kill: Any, kill_at: float, start: float
) -> list[dict[str, Any]]:
    """Requests at ``rps`` (each its own task, so a slow one does not hold the next back)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "x-aiplane-region": "eu"}
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def one(sent: float) -> None:
            try:
                r = await client.post(url, json=BODY, headers=headers)
                results.append(
                    {
                        "sent": sent,
                        "status": r.status_code,
                        "replica": r.headers.get("x-aiplane-replica", ""),
                        "tried": r.headers.get("x-aiplane-tried", ""),
                    }
                )
            except httpx.HTTPError as exc:
                results.append({"sent": sent, "status": 0, "replica": "", "tried": str(exc)})

        tasks = []
        killed = False
        for i in range(int(rps * seconds)):
            due = start + i / rps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not killed and time.monotonic() - start >= kill_at:
                kill()
                killed = True
            tasks.append(asyncio.create_task(one(time.monotonic() - start)))
        await asyncio.gather(*tasks)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rps", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kill-at", type=float, default=3.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aiplane-bench-failover-"))
    edge_port, cloud_port, gw_port = free_port(), free_port(), free_port()
    config = {
        "port": gw_port,
        "token": TOKEN,
        "probe": True,
        "log_dir": str(tmp / "log"),
        "endpoints": [
            {
                "name": "bench",
                "latency_slo_ms": {"eu": 50},
                "sites": [
                    {"name": "edge", "kind": "edge", "latency_ms": {"eu": 5}},
                    {"name": "cloud", "kind": "cloud", "latency_ms": {"eu": 40}},
                ],
                "replicas": [
                    {
                        "run_id": "r-edge",
                        "site": "edge",
                        "address": f"127.0.0.1:{edge_port}",
                        "usd_per_hour": 0.5,
                    },
                    {
                        "run_id": "r-cloud",
                        "site": "cloud",
                        "address": f"127.0.0.1:{cloud_port}",
                        "usd_per_hour": 2.0,
                    },
                ],
            }
        ],
    }
    (tmp / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = HERE / "gateway_upstream.py"
    edge = subprocess.Popen([sys.executable, str(up), str(edge_port), "edge"], env=env)
    cloud = subprocess.Popen([sys.executable, str(up), str(cloud_port), "cloud"], env=env)
    gateway = subprocess.Popen(
        [sys.executable, str(HERE / "gateway_static.py"), str(tmp / "config.json")], env=env
    )
    killed_at: list[float] = []
    try:
        for port in (edge_port, cloud_port):
            wait_ready(f"http://127.0.0.1:{port}/v2/health/ready")
        wait_ready(f"http://127.0.0.1:{gw_port}/v2/health/ready")

        def kill() -> None:
            edge.send_signal(signal.SIGKILL)
            killed_at.append(time.monotonic())

        url = f"http://127.0.0.1:{gw_port}/v2/models/bench/infer"
        start = time.monotonic()
        results = asyncio.run(load(url, args.rps, args.seconds, kill, args.kill_at, start))
    finally:
        for proc in (edge, cloud, gateway):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    kill_s = killed_at[0] - start
    at_edge = [r["sent"] for r in results if r["replica"] == "r-edge" or "r-edge" in r["tried"]]
    after = [s for s in at_edge if s >= kill_s]
    before_kill = [r for r in results if r["sent"] < kill_s]
    result = {
        "benchmark": "failover",
        "requests": len(results),
        "failed_requests": sum(1 for r in results if r["status"] != 200),
        "reroute_s": round(max(after) - kill_s, 3) if after else 0.0,
        "edge_share_before_kill": round(
            sum(1 for r in before_kill if r["replica"] == "r-edge") / max(1, len(before_kill)), 3
        ),
        "rps": args.rps,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
