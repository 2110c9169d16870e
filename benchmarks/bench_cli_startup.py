"""CLI start-up: wall time of `aiplane jobs list --json` against a running control plane.

Starts an embedded control plane (SQLite) in this process under a temporary AIPLANE_HOME,
writes its server.json and credentials there as `aiplane up` would, applies a fleet that holds
every job waiting (``waiting_fleet.py``), submits a few jobs, then
times N runs of the command as a user runs it: a new process that finds the server, asks for
the listing and prints it. With ``--other`` the same is timed for another checkout's
interpreter or `aiplane` script (e.g. the code before a change), runs interleaved so that both
see the same machine load. Also reports each side's import total from PYTHONPROFILEIMPORTTIME.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from waiting_fleet import RESOURCES, TEAM, apply_waiting_fleet, settle

from aiplane.client import Client
from aiplane.config import Settings
from aiplane.discovery import LocalHome, ServerInfo
from aiplane.server import EmbeddedServer

ARGS = ["jobs", "list", "--json"]
WORKLOAD = {"name": "bench", "team": TEAM, "kind": "batch", "resources": RESOURCES, "run": "true"}
HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "aiplane.server", "aiplane.wiring")


def command(executable: str) -> list[str]:
    """An interpreter runs ``-m aiplane``; anything else is taken to be the `aiplane` script."""
    if Path(executable).name.startswith("python"):
        return [executable, "-m", "aiplane", *ARGS]
    return [executable, *ARGS]


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIPLANE_URL", "AIPLANE_TOKEN")}
    return {**env, "AIPLANE_HOME": str(home), **extra}


def run_once(cmd: list[str], home: Path, expected_jobs: int) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=environment(home), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    if len(json.loads(result.stdout)["items"]) != expected_jobs:
        raise SystemExit(f"{' '.join(cmd)} listed the wrong jobs: {result.stdout[:200]}")
    return elapsed


def imports(cmd: list[str], home: Path) -> dict[str, Any]:
    """Sum of the self times that ``PYTHONPROFILEIMPORTTIME`` reports, and what was loaded."""
    env = environment(home, PYTHONPROFILEIMPORTTIME="1")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    total_us, modules = 0, []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        if not self_us.strip().isdigit():  # the header line
            continue
        total_us += int(self_us)
        modules.append(name.strip())
    heavy = [h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in modules)]
    return {"import_total_s": round(total_us / 1e6, 4), "modules": len(modules), "heavy": heavy}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_s": round(statistics.median(ordered), 4),
        "mean_s": round(statistics.fmean(ordered), 4),
        "min_s": round(ordered[0], 4),
        "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per side")
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the listing")
    parser.add_argument("--this", default=sys.executable, help="this side's python or aiplane")
    parser.add_argument("--other", help="another checkout's python or aiplane, timed alongside")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aiplane-bench-cli-") as tmp:
        home = Path(tmp)
        settings = Settings(
            home=home,
            database_url=f"sqlite:///{home / 'aiplane.db'}",
            catalog_dir=None,
            telemetry="off",
        )
        with EmbeddedServer(settings) as server:
            local = LocalHome(home)
            local.write_server_info(ServerInfo(server.url, os.getpid(), time.time()))
            local.write_token(server.token)
            apply_waiting_fleet(server.url, server.token)
            with Client(server.url, server.token) as client:
                for _ in range(args.jobs):
                    client.jobs.submit(WORKLOAD)
            settle(server.url, server.token)
            sides = {"this": command(args.this)}
            if args.other:
                sides["other"] = command(args.other)
            samples: dict[str, list[float]] = {name: [] for name in sides}
            for cmd in sides.values():  # warm the page cache and .pyc files
                run_once(cmd, home, args.jobs)
            for _ in range(args.runs):
                for name, cmd in sides.items():
                    samples[name].append(run_once(cmd, home, args.jobs))
            results: dict[str, Any] = {
                name: {"executable": cmd[0], **summary(samples[name]), **imports(cmd, home)}
                for name, cmd in sides.items()
            }
    out: dict[str, Any] = {
        "benchmark": "cli_startup",
        "command": "aiplane " + " ".join(ARGS),
        "runs": args.runs,
        "jobs": args.jobs,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        **results,
    }
    if "other" in results:
        out["speedup_median"] = round(results["other"]["median_s"] / results["this"]["median_s"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
