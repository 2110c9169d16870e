"""A burst of gang jobs that fills a 32-node cluster exactly, through the real engine.

32 nodes x 8 GPUs; 53 jobs whose 8-GPU replicas, in the order given (count x replicas):
1x32, 2x16, 3x10, 1x2, 4x8, 5x6, 2x1, 6x5, 1x2, 7x4, 1x2, 2x1, 8x4, 9x3, 1x5, each running 30 s
(with that estimate given). Driven by the simulator on a virtual clock. Prints one JSON line.
"""

from __future__ import annotations

import json
import time

from aiplane.core.fleet import Fleet, NodeShape, Pool, Pricing, PricingModel, Site, SiteKind
from aiplane.core.scheduling.engine import Engine
from aiplane.gctuning import paused_collector
from aiplane.sim.driver import SimOptions, Simulator
from aiplane.sim.jobs import ShapeOptions, Shaper, TraceJob, prepare

BURST = ((1, 32), (2, 16), (3, 10), (1, 2), (4, 8), (5, 6), (2, 1), (6, 5), (1, 2), (7, 4),
         (1, 2), (2, 1), (8, 4), (9, 3), (1, 5))  # fmt: skip
NODES, GPUS, DURATION_S = 32, 8, 30.0


def main() -> None:
    pool = Pool(
        "dc", "h100", "emulated", NodeShape("H100-80GB", GPUS, 96, 1024), NODES, NODES,
        Pricing(PricingModel.OWNED, 8.0),
    )  # fmt: skip
    fleet = Fleet((Site("dc", SiteKind.ONPREM, "local", "EU", (pool,)),))
    jobs: list[TraceJob] = []
    for count, replicas in BURST:
        for _ in range(count):
            jobs.append(TraceJob(f"g{len(jobs):02d}", 0.0, DURATION_S, float(replicas * GPUS)))
    shaper = Shaper(fleet, ShapeOptions(oracle_estimates=True, checkpoint_minutes=None))
    prepared = prepare(jobs, shaper)
    start = time.perf_counter()
    with paused_collector():  # as the simulate command runs a replay
        result = Simulator(fleet, prepared, Engine(), SimOptions(seed=0)).run()
    wall = time.perf_counter() - start
    s = result.summary
    ideal = sum(r * c for c, r in BURST) * DURATION_S / NODES
    print(
        json.dumps(
            {
                "bench": "gang_burst",
                "jobs_done": s.finished,
                "jobs_total": len(jobs),
                "avg_gpu_occupancy": round(s.gpu_utilization, 4),
                "partial_gangs": result.counters.partial_gangs,
                "makespan_s": s.makespan_s,
                "ideal_makespan_s": ideal,
                "violations": s.violations,
                "preemptions": s.preemptions,
                "wall_s": round(wall, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
