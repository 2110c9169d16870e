"""The hostile-input probe of issue 10, kept: what the server answers to hostile values, and
whether it stays responsive and small while it does.

Starts `aiplane up` (SQLite) in its own process under a temporary AIPLANE_HOME, applies the
waiting fleet (``waiting_fleet.py``), then sends each hostile request of the issue once:
non-finite numbers in a job body, non-finite and far-away times on the cost routes, a NUL byte
in a stored field, a job without its working directory, the ten-thousand-year anomaly scan
and a 50 MB body. For each it records the status, the seconds it took and the server's
resident memory afterwards; then it times a page of ``GET /jobs``, which a stored 50 MB body
used to slow down. Prints one JSON line: ``server_errors`` counts the 5xx answers and
``timeouts`` the requests that did not answer within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from waiting_fleet import RESOURCES, TEAM, apply_waiting_fleet, start_server

WORKLOAD: dict[str, Any] = {
    "name": "hostile",
    "team": TEAM,
    "kind": "batch",
    "resources": RESOURCES,
    "run": "true",
}


def job_body(**changes: Any) -> str:
    """A submission body as raw JSON text, so that ``Infinity`` can be written into it."""
    spec = {**WORKLOAD, **changes}
    return json.dumps({"spec": spec}, allow_nan=True)


def requests() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, method, path, httpx keyword arguments) of each hostile request."""
    json_headers = {"Content-Type": "application/json"}
    big = "x" * (50 * 1024 * 1024)
    return [
        (
            "cpus_infinity",
            "POST",
            "/jobs",
            {
                "content": job_body(resources={**RESOURCES, "cpus": float("inf")}),
                "headers": json_headers,
            },
        ),
        (
            "estimated_hours_infinity",
            "POST",
            "/jobs",
            {
                "content": job_body(estimated_hours=float("inf")),
                "headers": json_headers,
            },
        ),
        (
            "max_usd_per_hour_nan",
            "POST",
            "/jobs",
            {
                "content": job_body(constraints={"max_usd_per_hour": float("nan")}),
                "headers": json_headers,
            },
        ),
        ("report_from_minus_1e308", "GET", "/costs/report", {"params": {"from": "-1e308"}}),
        ("report_from_minus_inf", "GET", "/costs/report", {"params": {"from": "-inf"}}),
        ("report_from_nan", "GET", "/costs/report", {"params": {"from": "nan"}}),
        ("nul_in_command", "POST", "/jobs", {"json": {"spec": {**WORKLOAD, "run": "echo \x00"}}}),
        ("workdir_missing", "POST", "/jobs", {"json": {"spec": {**WORKLOAD, "workdir": "/nope"}}}),
        ("anomalies_from_year_1", "GET", "/costs/anomalies", {"params": {"from": "0001-01-01"}}),
        ("body_50mb", "POST", "/jobs", {"json": {"spec": {**WORKLOAD, "run": big}}}),
    ]


def probe(url: str, token: str, timeout_s: float, pid: int) -> dict[str, Any]:
    server = psutil.Process(pid)
    answers: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=timeout_s) as client:
        for name, method, path, kwargs in requests():
            started = time.perf_counter()
            try:
                status: int | str = client.request(method, path, **kwargs).status_code
            except httpx.TimeoutException:
                status = "timeout"
            except httpx.TransportError as exc:
                status = f"transport: {type(exc).__name__}"
            answers[name] = {
                "status": status,
                "s": round(time.perf_counter() - started, 3),
                "server_rss_mib": round(server.memory_info().rss / 2**20, 1),
            }
        started = time.perf_counter()
        listing = client.get("/jobs", params={"limit": 50})
        answers["list_after"] = {
            "status": listing.status_code,
            "s": round(time.perf_counter() - started, 3),
            "bytes": len(listing.content),
        }
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument(
        "--database-url", help="an empty database for the server (default: SQLite in its home)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiplane-hostile-") as tmp:
        proc, url, token = start_server(
            Path(tmp) / "home",
            {"AIPLANE_DATABASE_URL": args.database_url} if args.database_url else None,
        )
        try:
            apply_waiting_fleet(url, token)
            answers = probe(url, token, args.timeout, proc.pid)
            alive = httpx.get(url + "/api/v1/health", timeout=5).status_code == 200
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    statuses = [a["status"] for a in answers.values()]
    print(
        json.dumps(
            {
                "bench": "probe_hostile",
                "server_errors": sum(1 for s in statuses if isinstance(s, int) and s >= 500),
                "timeouts": sum(1 for s in statuses if s == "timeout"),
                "responsive_after": alive,
                "peak_server_rss_mib": max(a.get("server_rss_mib", 0) for a in answers.values()),
                "answers": answers,
                "store": "postgresql" if args.database_url else "sqlite",
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
