"""API throughput: submissions per second, and GET /api/v1/jobs latency with 10,000 jobs stored.

Starts `aiplane up` (the embedded server, SQLite store) in its own process under a temporary
AIPLANE_HOME, submits jobs over HTTP from concurrent clients, then times the first page of the
job listing. The fleet applied first (``waiting_fleet.py``) accepts every job and holds it
waiting for quota, so nothing runs and the figures are the API and store. Prints one JSON
line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from waiting_fleet import RESOURCES, TEAM, apply_waiting_fleet, settle, start_server

WORKLOAD = {
    "name": "bench",
    "team": TEAM,
    "kind": "batch",
    "resources": RESOURCES,
    "run": "true",
}


def start_bench_server(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    # The scheduler runs when a submission wakes it, but not on its own: its cycle over the
    # waiting queue would otherwise share the server's cores with the listing being timed.
    return start_server(home, {"AIPLANE_SCHEDULER_INTERVAL_S": "3600"}, timeout_s=30)


async def submit_many(url: str, token: str, count: int, concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                response = await client.post("/api/v1/jobs", json={"spec": WORKLOAD})
                if response.status_code != 201:
                    raise SystemExit(f"submit failed: {response.status_code} {response.text}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


def time_listing(url: str, token: str, requests: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    with httpx.Client(base_url=url, headers=headers) as client:
        for _ in range(20):  # warm up connections and caches
            client.get("/api/v1/jobs")
        for _ in range(requests):
            start = time.perf_counter()
            response = client.get("/api/v1/jobs")
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and len(response.json()["items"]) == 50
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs stored before listing")
    parser.add_argument("--measure", type=int, default=3_000, help="submissions timed")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--list-requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiplane-bench-") as tmp:
        proc, url, token = start_bench_server(Path(tmp))
        try:
            apply_waiting_fleet(url, token)
            elapsed = asyncio.run(submit_many(url, token, args.measure, args.concurrency))
            rest = max(0, args.jobs - args.measure)
            if rest:
                asyncio.run(submit_many(url, token, rest, args.concurrency))
            settle(url, token)
            samples = time_listing(url, token, args.list_requests)
        finally:
            proc.terminate()
            proc.wait(15)
    samples.sort()
    result = {
        "bench": "api",
        "submissions_per_s": round(args.measure / elapsed, 1),
        "submissions_timed": args.measure,
        "concurrency": args.concurrency,
        "jobs_stored": max(args.jobs, args.measure),
        "list_p50_ms": round(statistics.median(samples), 2),
        "list_p99_ms": round(samples[int(len(samples) * 0.99) - 1], 2),
        "list_requests": len(samples),
        "store": "sqlite",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
