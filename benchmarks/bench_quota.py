"""Kueue's quota scenario through the real engine on a virtual clock.

5 cohorts x 6 team queues, each with a nominal quota of 20 GPUs and a borrowing limit of 100,
reclaim within the cohort and priority preemption. Per queue: 350 small jobs (1 GPU, 200 ms,
priority 50, one every 100 ms), 100 medium (5 GPUs, 500 ms, priority 100, every 500 ms) and 50
large (20 GPUs, 1 s, priority 200, every 1.2 s): 15,000 workloads. The fleet holds exactly the
quota, 30 nodes of 20 GPUs. Prints one JSON line; admission times are virtual seconds.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

from aiplane.core.fleet import Fleet, NodeShape, Pool, Pricing, PricingModel, Site, SiteKind, Team
from aiplane.core.scheduling.engine import Engine
from aiplane.gctuning import paused_collector
from aiplane.sim.driver import SimOptions, Simulator
from aiplane.sim.jobs import ShapeOptions, Shaper, TraceJob, prepare

COHORTS, QUEUES, NOMINAL, BORROW = 5, 6, 20, 100
CLASSES = {  # name: (count, gpus, duration s, priority, interval s)
    "small": (350, 1, 0.2, 50, 0.1),
    "medium": (100, 5, 0.5, 100, 0.5),
    "large": (50, 20, 1.0, 200, 1.2),
}
ACC = "H100-80GB"


def main() -> None:
    teams = tuple(
        Team(f"c{c}q{q}", cohort=f"c{c}", quota={ACC: NOMINAL}, borrowing_limit={ACC: BORROW})
        for c in range(COHORTS)
        for q in range(QUEUES)
    )
    nodes = COHORTS * QUEUES * NOMINAL // 20
    pool = Pool("dc", "gpus", "emulated", NodeShape(ACC, 20, 200, 4000), nodes, nodes,
                Pricing(PricingModel.OWNED, 20.0))  # fmt: skip
    fleet = Fleet((Site("dc", SiteKind.ONPREM, "local", "EU", (pool,)),), teams)
    jobs = [
        TraceJob(
            f"{team.name}-{name}-{i}",
            i * every,
            duration,
            float(gpus),
            team=team.name,
            priority=priority,
        )
        for team in teams
        for name, (count, gpus, duration, priority, every) in CLASSES.items()
        for i in range(count)
    ]
    shaper = Shaper(fleet, ShapeOptions(checkpoint_minutes=None))
    prepared = prepare(jobs, shaper)
    start = time.perf_counter()
    with paused_collector():  # as the simulate command runs a replay
        result = Simulator(fleet, prepared, Engine(), SimOptions(seed=0)).run()
    wall = time.perf_counter() - start
    admission: dict[str, list[float]] = defaultdict(list)
    gpu_s: dict[str, float] = defaultdict(float)
    for record in result.records:
        cls = record.id.split("-")[1]
        if record.queue_s is not None:
            admission[cls].append(record.queue_s)
        gpu_s[record.team] += record.gpus * record.run_s
    makespan = result.summary.makespan_s
    usage = [min(1.0, gpu_s[t.name] / (NOMINAL * makespan)) for t in teams]
    out = {
        "bench": "quota",
        "workloads": len(jobs),
        "finished": result.summary.finished,
        "wall_s": round(wall, 3),
        "min_queue_usage": round(min(usage), 4),
        "avg_queue_usage": round(sum(usage) / len(usage), 4),
        "makespan_s": round(makespan, 3),
        "preemptions": result.summary.preemptions,
        "partial_gangs": result.counters.partial_gangs,
        "violations": result.summary.violations,
        "cycles": result.summary.cycles,
    }
    for cls in CLASSES:
        values = admission[cls]
        out[f"avg_admission_s_{cls}"] = round(sum(values) / len(values), 3) if values else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
