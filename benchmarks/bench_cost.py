"""The cost pipeline on 1,000,000 usage intervals of 10,000 runs: encode, meter, roll up, idle
cost, and a FOCUS 1.2 CSV export to a temporary file. Prints one JSON line.

The intervals are generated (a month of attempts over owned, reserved, on-demand and spot
pools, with egress on first attempts); generating them is reported apart (``generate_s``) and
is not part of ``total_s``, which times what a report or export does with intervals read from
the store: turn them into columns, price them, aggregate them and write them out.
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

import numpy as np

from aiplane.core.cost.allocation import idle_costs, in_force_throughout, share_idle
from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.focus import focus_csv
from aiplane.core.cost.metering import commitments, meter
from aiplane.core.cost.rollup import rollup
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.fleet import Fleet, NodeShape, Pool, Pricing, PricingModel, Site, SiteKind

JUNE = 1_748_736_000.0  # 2025-06-01T00:00:00Z
MONTH_S = 30 * 86400.0
DIMENSIONS = ("team", "workload", "model", "site", "pricing")


def fleet() -> Fleet:
    def pool(site: str, name: str, model: PricingModel, rate: float, nodes: int) -> Pool:
        return Pool(
            site, name, "emulated", NodeShape("H100-80GB", 8, 208, 2048), nodes, nodes,
            Pricing(model, rate * 8),
        )  # fmt: skip

    reserved = pool("aws", "p5-reserved", PricingModel.RESERVED, 4.0, 16)
    reserved = replace(
        reserved,
        pricing=replace(
            reserved.pricing, reserved_gpu_hours_per_month=60_000, reserved_usd_per_gpu_hour=2.2
        ),
    )
    return Fleet(
        sites=(
            Site("fra", SiteKind.ONPREM, "eu-central", "EU",
                 (pool("fra", "dgx", PricingModel.OWNED, 1.35, 32),)),
            Site("aws", SiteKind.CLOUD, "us-east-1", "US",
                 (reserved, pool("aws", "p5", PricingModel.ON_DEMAND, 6.9, 64)), "aws", 0.09),
            Site("gcp", SiteKind.CLOUD, "us-central1", "US",
                 (pool("gcp", "a3-spot", PricingModel.SPOT, 2.5, 64),), "gcp", 0.12),
        )
    )  # fmt: skip


def generate(n: int, runs: int, seed: int) -> list[UsageInterval]:
    rng = np.random.default_rng(seed)
    pools = [
        ("fra", "fra/dgx", "owned", 1.35),
        ("aws", "aws/p5-reserved", "reserved", 4.0),
        ("aws", "aws/p5", "on_demand", 6.9),
        ("gcp", "gcp/a3-spot", "spot", 2.5),
    ]
    run = rng.integers(0, runs, n)
    start = JUNE + rng.random(n) * MONTH_S
    hours = rng.exponential(1.5, n).clip(0.01, 24)
    gpus = rng.choice([1, 2, 4, 8, 16], n)
    pool_of_run = rng.integers(0, len(pools), runs)
    attempt = np.zeros(n, dtype=np.int64)
    order = np.lexsort((start, run))
    first = np.r_[True, run[order][1:] != run[order][:-1]]
    counter = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
    attempt[order] = counter + 1
    out = []
    for i in range(n):
        r = int(run[i])
        site, key, model, rate = pools[pool_of_run[r]]
        egress = 250.0 if attempt[i] == 1 and site != "fra" else 0.0
        out.append(
            UsageInterval(
                run_id=f"r-{r:06d}",
                job_id=f"j-{r:06d}",
                attempt=int(attempt[i]),
                team=f"team-{r % 12}",
                workload=f"wl-{r % 400}",
                site=site,
                pool=key,
                pricing=model,
                accelerator="H100-80GB",
                gpus=float(gpus[i]),
                start=float(start[i]),
                end=float(start[i] + hours[i] * 3600.0),
                usd_per_hour=rate * float(gpus[i]),
                project=f"proj-{r % 30}",
                model=f"model-{r % 50}" if r % 3 else None,
                egress_gb=egress,
                egress_usd=egress * 0.09,
                outcome="preempted" if r % 10 == 0 else "succeeded",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intervals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    t = time.perf_counter()
    intervals = generate(args.intervals, args.runs, args.seed)
    f = fleet()
    generate_s = time.perf_counter() - t
    start, end = JUNE, JUNE + MONTH_S + 86400.0
    steps: dict[str, float] = {}

    t0 = time.perf_counter()
    usage = UsageColumns.from_intervals(intervals)
    steps["encode_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    lines = meter(usage, start, end, commitments(f))
    steps["meter_s"] = time.perf_counter() - t

    t = time.perf_counter()
    totals = {by: rollup(lines, usage, by) for by in DIMENSIONS}
    steps["rollup_s"] = time.perf_counter() - t

    t = time.perf_counter()
    idle = idle_costs(lines, usage, in_force_throughout(f), start, end)
    share_idle(idle, lines, usage)
    steps["idle_s"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = 0
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "focus.csv")
        with open(path, "w", encoding="utf-8", newline="") as out:
            chunks = focus_csv(lines, usage, f, idle=[(start, end, i) for i in idle])
            for chunk in chunks:
                out.write(chunk)
                rows += chunk.count("\n")
        size = os.path.getsize(path)
    steps["export_s"] = time.perf_counter() - t
    total_s = time.perf_counter() - t0

    result = {
        "bench": "cost",
        "intervals": len(intervals),
        "runs": args.runs,
        "cost_lines": len(lines),
        "focus_rows": rows - 1,  # less the header
        "focus_mb": round(size / 1e6, 1),
        "generate_s": round(generate_s, 3),
        **{k: round(v, 3) for k, v in steps.items()},
        "encode_rows_per_s": round(len(intervals) / steps["encode_s"]),
        "meter_rows_per_s": round(len(intervals) / steps["meter_s"]),
        "rollup_rows_per_s": round(len(DIMENSIONS) * len(lines) / steps["rollup_s"]),
        "export_rows_per_s": round((rows - 1) / steps["export_s"]),
        "total_s": round(total_s, 3),
        "total_usd": round(lines.total_usd, 2),
        "teams": len(totals["team"]),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
