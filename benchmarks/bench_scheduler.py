"""One scheduling cycle of the engine at fleet scale.

10,000 nodes of 8 GPUs (4 accelerator types x 3 site kinds, EU and US), 100,000 pending
workloads (1 to 8 GPUs, gangs up to 64 GPUs, some accepting two accelerator types, some bound
to a jurisdiction), 50 teams in 5 cohorts with quotas that lend and borrow. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time

from aiplane.core.fleet import Fleet, NodeShape, Pool, Pricing, PricingModel, Site, SiteKind, Team
from aiplane.core.scheduling.decisions import Place, Preempt
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, Snapshot
from aiplane.core.workloads import AcceleratorOption, Constraints, Workload, WorkloadKind
from aiplane.gctuning import paused_collector

TYPES = {"H100-80GB": 24.0, "A100-80GB": 14.0, "L40S": 8.0, "L4": 3.0}  # $/node-hour
KINDS = (SiteKind.ONPREM, SiteKind.CLOUD, SiteKind.EDGE)


def build_fleet(nodes: int, teams: int, cohorts: int) -> Fleet:
    per_pool = nodes // (len(TYPES) * len(KINDS))
    sites = []
    for kind in KINDS:
        for juris in ("EU", "US"):
            name = f"{kind}-{juris.lower()}"
            pools = tuple(
                Pool(
                    site=name,
                    name=acc.lower(),
                    backend="emulated",
                    node=NodeShape(acc, 8, 96, 1024),
                    nodes_min=per_pool // 2,
                    nodes_max=per_pool // 2,
                    pricing=Pricing(
                        PricingModel.OWNED
                        if kind is not SiteKind.CLOUD
                        else PricingModel.ON_DEMAND,
                        price * (1.3 if kind is SiteKind.CLOUD else 1.0),
                    ),
                )
                for acc, price in TYPES.items()
            )
            sites.append(Site(name, kind, name, juris, pools))
    total = {acc: 0.0 for acc in TYPES}
    for s in sites:
        for p in s.pools:
            total[p.node.accelerator or ""] += p.node.gpus * p.nodes_max
    team_list = tuple(
        Team(
            f"team{i}",
            cohort=f"cohort{i % cohorts}",
            quota={acc: round(gpus / teams) for acc, gpus in total.items()},
            borrowing_limit={acc: round(gpus / teams) for acc, gpus in total.items()},
        )
        for i in range(teams)
    )
    return Fleet(tuple(sites), team_list)


def build_pending(count: int, teams: int, rng: random.Random) -> list[PendingRun]:
    types = list(TYPES)
    shapes = [(1, 1), (2, 1), (4, 1), (8, 1), (8, 2), (8, 4), (8, 8)]
    weights = [30, 15, 15, 20, 10, 6, 4]
    out = []
    for i in range(count):
        gpus, replicas = rng.choices(shapes, weights)[0]
        first = rng.choice(types)
        options = [AcceleratorOption(first, gpus)]
        if rng.random() < 0.3:
            second = rng.choice([t for t in types if t != first])
            options.append(AcceleratorOption(second, gpus, round(rng.uniform(0.3, 0.9), 2)))
        juris = ("EU",) if rng.random() < 0.2 else ()
        w = Workload(
            name=f"w{i}",
            team=f"team{rng.randrange(teams)}",
            kind=WorkloadKind.TRAIN,
            run="true",
            replicas=replicas,
            accelerators=tuple(options),
            cpus=8,
            memory_gib=64,
            priority=rng.choice([100, 500, 500, 1000]),
            estimated_hours=rng.choice([None, 0.5, 1, 2, 4, 8]),
            constraints=Constraints(jurisdictions=juris),
        )
        out.append(PendingRun(f"r{i}", f"j{i}", w, submitted_at=float(i)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--cohorts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    fleet = build_fleet(args.nodes, args.teams, args.cohorts)
    nodes = tuple(
        NodeState(n, p.key, p.node.capacity, tuple(range(p.node.gpus)))
        for p in fleet.pools()
        for n in p.node_ids()
    )
    pending = tuple(build_pending(args.pending, args.teams, rng))
    snapshot = Snapshot(fleet, nodes, pending, now=1e6)
    start = time.perf_counter()
    with paused_collector():  # as the live scheduler loop runs a cycle
        decisions = Engine().decide(snapshot)
    cycle_s = time.perf_counter() - start
    placements = sum(1 for d in decisions if isinstance(d, Place))
    placed_gpus = sum(
        a.gpus for d in decisions if isinstance(d, Place) for a in d.placement.assignments
    )
    print(
        json.dumps(
            {
                "bench": "scheduler",
                "nodes": len(nodes),
                "pending": len(pending),
                "placements": placements,
                "placements_per_s": round(placements / cycle_s, 1),
                "decisions_per_s": round(len(decisions) / cycle_s, 1),
                "cycle_s": round(cycle_s, 3),
                "gpu_fill": round(placed_gpus / sum(n.free.gpus for n in nodes), 4),
                "preemptions": sum(1 for d in decisions if isinstance(d, Preempt)),
                "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            }
        )
    )


if __name__ == "__main__":
    main()
