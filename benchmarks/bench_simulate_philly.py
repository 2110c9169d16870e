"""Replay the whole Philly trace (82,247 jobs) on a 2,000-GPU fleet with each policy.

Two parts, one JSON line:

- ``replay``: the trace as recorded (load factor 1) through FIFO, SJF (oracle), 2D-LAS and
  aiplane's engine; wall time per policy (target: under 60 s each) and the metrics.
- ``quality``: the same trace arriving ``--quality-load`` times faster, a load where FIFO
  queues heavily; the engine's average JCT against FIFO (target: at least 5x lower) and 2D-LAS
  (target: lower, with p99 no worse). Whatever is measured is printed.

Jobs shorter than 60 s are kept (Pollux drops them; ``--min-duration 60`` does the same).
Checkpoints every 30 minutes; spot plays no part (the fleet is owned).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from aiplane.gctuning import paused_collector
from aiplane.sim.driver import SimOptions
from aiplane.sim.jobs import ShapeOptions
from aiplane.sim.policies import parse
from aiplane.sim.runner import compare
from aiplane.sim.traces import TraceOptions, load_trace
from aiplane.specs import load_fleet

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "data" / "traces" / "philly.csv"
FLEET = ROOT / "examples" / "fleet-philly.yaml"
KEEP = ("jobs", "finished", "avg_jct_s", "p50_jct_s", "p99_jct_s", "avg_queue_s", "makespan_s",
        "gpu_utilization", "fragmentation", "cost_usd", "capacity_cost_usd", "violations",
        "partial_gangs", "preemptions", "rework_gpu_hours", "cycles", "wall_s", "policy_s",
        "unfinished")  # fmt: skip


def run(args: argparse.Namespace, policies: str, load: float, interval: float) -> dict[str, Any]:
    fleet = load_fleet(args.fleet).fleet
    trace = load_trace(args.trace, TraceOptions(load_factor=load, min_duration_s=args.min_duration))
    shape = ShapeOptions(checkpoint_minutes=30)
    options = SimOptions(seed=args.seed, min_cycle_interval_s=interval)

    out: dict[str, Any] = {}
    for choice in parse(policies):
        print(f"  {choice.label} at load {load:g} ...", file=sys.stderr, flush=True)
        with paused_collector():  # as the simulate command runs a replay
            result = compare(fleet, trace.jobs, [choice], shape, options).results[choice.name]
        figures = result.summary.as_dict()
        out[choice.name] = {k: figures[k] for k in KEEP if k in figures}
        out[choice.name]["label"] = choice.label
        print(f"    {json.dumps(out[choice.name])}", file=sys.stderr, flush=True)
    return out


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--fleet", type=Path, default=FLEET)
    parser.add_argument("--policies", default="fifo,sjf,las,aiplane")
    parser.add_argument("--cycle-interval", type=float, default=0.0,
                        help="min virtual seconds between cycles in the replay")  # fmt: skip
    parser.add_argument("--quality-load", type=float, default=4.0)
    parser.add_argument("--quality-interval", type=float, default=60.0)
    parser.add_argument("--quality-policies", default="fifo,las,aiplane")
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--min-duration", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.trace.exists():
        print(json.dumps({"bench": "simulate_philly", "skipped": f"no trace at {args.trace}"}))
        return
    fleet = load_fleet(args.fleet).fleet
    result: dict[str, Any] = {
        "bench": "simulate_philly",
        "fleet_gpus": sum(p.node.gpus * p.nodes_max for p in fleet.pools()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "min_duration_s": args.min_duration,
    }
    if not args.skip_replay:
        print("replay:", file=sys.stderr)
        result["replay"] = run(args, args.policies, 1.0, args.cycle_interval)
        result["replay_cycle_interval_s"] = args.cycle_interval
    if not args.skip_quality:
        print("quality:", file=sys.stderr)
        q = run(args, args.quality_policies, args.quality_load, args.quality_interval)
        quality: dict[str, Any] = {"load_factor": args.quality_load,
                                   "cycle_interval_s": args.quality_interval, **q}  # fmt: skip
        if "aiplane" in q:
            ai = q["aiplane"]
            if "fifo" in q:
                quality["fifo_over_aiplane_avg_jct"] = ratio(
                    q["fifo"]["avg_jct_s"], ai["avg_jct_s"]
                )
            if "las" in q:
                quality["las_over_aiplane_avg_jct"] = ratio(q["las"]["avg_jct_s"], ai["avg_jct_s"])
                quality["aiplane_over_las_p99_jct"] = ratio(ai["p99_jct_s"], q["las"]["p99_jct_s"])
        result["quality"] = quality
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
