"""The telemetry collector's own CPU cost at 1 Hz with 8 GPUs (replayed). Target: under 1% of
one core.

What one tick costs is what the control plane pays each second: sample 8 GPUs (a recording
replayed over 8 GPUs), read the active runs from the store, attribute the samples to them,
fold the tick into per-run aggregates, and read the host through psutil. Two measurements:

- per tick: CPU time (``time.process_time``) over many ticks driven by a virtual clock,
  expressed as a share of one core at 1 tick per second;
- real time: the actual 1 Hz loop thread for a short window, CPU time over wall time, which
  includes the loop's own waking and sleeping.

Also reported: one /metrics render (Prometheus scrapes every 15-60 s, so it is not per tick).
Prints one JSON line. NVML's own calls are not included (2-9 us each on the H200 according to
its static.json: about 15 calls per GPU per tick, some 1 ms for 8 GPUs, 0.1% of a core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aiplane.api.prometheus import registry_for, render
from aiplane.backends.registry import PoolBackends
from aiplane.core.runs import Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.workloads import AcceleratorOption, Workload, WorkloadKind
from aiplane.services.metrics import MetricsService
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from aiplane.store.sql import SqlStore
from aiplane.telemetry.host import HostSource
from aiplane.telemetry.replay import ReplaySource
from aiplane.workers.loop import Loop
from aiplane.workers.telemetry import telemetry_step

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/telemetry/data/h200-phases.jsonl"


def open_store(kind: str, where: Path) -> Store:
    if kind == "sqlite":
        return SqlStore.open(f"sqlite:///{where / 'bench.db'}")
    return MemoryStore()


def store_with_runs(store: Store, runs: int, gpus: int, now: float) -> Store:
    """``runs`` running jobs sharing the ``gpus`` GPUs between them, as the scheduler would."""
    per_run = max(1, gpus // runs)
    for n in range(runs):
        workload = Workload(
            name=f"bench-{n}",
            team="bench",
            kind=WorkloadKind.TRAIN,
            run="true",
            accelerators=(AcceleratorOption("H200", float(per_run)),),
        )
        job = Job(id=f"j{n:010d}", workload=workload, submitted_at=now, submitted_by="bench")
        indices = tuple(range(n * per_run, min(gpus, (n + 1) * per_run)))
        placement = Placement(
            pool="bench/h200",
            site="bench",
            backend="emulated",
            accelerator="H200",
            assignments=(ReplicaAssignment(0, "bench/h200/0", float(len(indices)), indices),),
            usd_per_hour=6.0 * len(indices),
            emulated=True,
        )
        run = Run(id=f"r{n:010d}", job_id=job.id, state=RunState.PENDING, created_at=now,
                  updated_at=now)  # fmt: skip
        store.jobs.add(job, replace(run, state=RunState.RUNNING, placement=placement,
                                   started_at=now))  # fmt: skip
    return store


def recorder(args: argparse.Namespace, now: float, where: Path) -> TelemetryRecorder:
    store = open_store(args.store, where)
    return TelemetryRecorder(
        ReplaySource.from_file(args.recording, gpus=args.gpus),
        store_with_runs(store, args.runs, args.gpus, now),
        PoolBackends(where, factories={}),  # emulated runs: no pids to look up
        host=HostSource(),
        emulated_samples=True,
    )


def per_tick(args: argparse.Namespace, where: Path) -> float:
    """CPU seconds per tick, ticks driven by a virtual clock (1 s apart)."""
    now = 1_800_000_000.0
    ticks = int(args.ticks)
    rec = recorder(args, now, where)
    for i in range(50):  # warm up: caches, first psutil deltas
        rec.step(now + i)
    start = time.process_time()
    for i in range(ticks):
        rec.step(now + 50 + i)
    return (time.process_time() - start) / ticks


def real_time(args: argparse.Namespace, where: Path) -> tuple[float, int]:
    """CPU share of one core while the real 1 Hz loop runs for ``window_s`` (this process does
    nothing else meanwhile), and the ticks it took."""
    window_s = args.window_s
    rec = recorder(args, time.time(), where)
    loop = Loop("telemetry", 1.0, lambda: telemetry_step(rec))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    loop.start()
    time.sleep(window_s)
    loop.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / wall, loop.ticks


def scrape_ms(args: argparse.Namespace, where: Path) -> float:
    now = time.time()
    rec = recorder(args, now, where)
    rec.step(now)
    rec.step(now + 1)
    registry = registry_for(MetricsService(rec.store, rec, lambda: now + 1, lambda: None))
    render(registry)
    start = time.perf_counter()
    for _ in range(20):
        render(registry)
    return (time.perf_counter() - start) / 20 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", type=Path, default=FIXTURE)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--runs", type=int, default=4, help="running runs holding the GPUs")
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--window-s", type=float, default=10.0, help="real-time 1 Hz window")
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()
    if not args.recording.is_file():
        sys.exit(f"no recording at {args.recording}")
    with tempfile.TemporaryDirectory() as tmp:
        cpu_s = per_tick(args, Path(tmp) / "a")
        share, ticks = real_time(args, Path(tmp) / "b")
        scrape = scrape_ms(args, Path(tmp) / "c")
    result = {
        "bench": "telemetry",
        "gpus": args.gpus,
        "runs": args.runs,
        "rate_hz": 1.0,
        "ticks_timed": args.ticks,
        "cpu_us_per_tick": round(cpu_s * 1e6, 1),
        "cpu_pct_of_core": round(cpu_s * 1.0 * 100, 4),
        "realtime_window_s": args.window_s,
        "realtime_ticks": ticks,
        "realtime_cpu_pct_of_core": round(share * 100, 4),
        "scrape_ms": round(scrape, 3),
        "store": args.store,
        "target_pct_of_core": 1.0,
        "source": "replay",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
