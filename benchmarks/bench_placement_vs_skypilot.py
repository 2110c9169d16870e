"""aiplane's placement engine against SkyPilot's optimizer on the same GPU price catalog.

The fleet is built from the catalog (``--catalog``, SkyPilot's ``vms.csv`` schema) through the
real spec path: one cloud site per (cloud, region) with its ``provider`` and ``region``, and per
instance type with GPUs an elastic emulated pool (0 to ``--pool-max`` nodes) on demand and, where
the catalog has a spot price, on spot. Spot interruption rates are 0, so that both optimizers
minimise the same hourly price.

Each task (an accelerator type and count per node, 1 to 4 nodes, spot or on demand, cloud and
region limits; 1 hour) is decided alone on the empty fleet by ``Engine().decide``. Its billed
cost is the benchmark's own arithmetic, not aiplane's estimate: every distinct node the
placement uses is an instance started, billed whole per hour at its catalog price (spot or on
demand). With ``--skypilot-python`` (or ``SKYPILOT_PYTHON``), ``skypilot_optimizer.py`` runs
SkyPilot's optimizer on the same tasks and catalog files offline in that interpreter; SkyPilot's
cost for N nodes is N times its instance's price. Prints one JSON line; ``--details FILE``
writes one line per task.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiplane.core.accelerators import canonical_name
from aiplane.core.fleet import Fleet, Pool, PricingModel
from aiplane.core.runs import Placement
from aiplane.core.scheduling.decisions import Place
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.snapshot import PendingRun
from aiplane.core.scheduling.state import SchedulerState
from aiplane.core.workloads import (
    AcceleratorOption,
    Constraints,
    SpotPolicy,
    Workload,
    WorkloadKind,
)
from aiplane.gctuning import paused_collector
from aiplane.pricing.base import InstanceOffer
from aiplane.pricing.catalog import CatalogPriceBook
from aiplane.specs.fleet import fleet_from_document

DEFAULT_CATALOG = "../shared/data/catalog"
SIDECAR = Path(__file__).with_name("skypilot_optimizer.py")
EQUAL_USD = 0.005  # half a cent per hour: prices are published to the cent or finer
NOW = 1e6


@dataclass(frozen=True)
class Task:
    """One request, as both optimizers get it: ``accelerator`` is SkyPilot's catalog name."""

    name: str
    accelerator: str
    gpus: int  # per node
    nodes: int
    spot: bool
    clouds: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


def cloud_of(offer: InstanceOffer) -> str:
    """The cloud a catalog file prices (``gcp.csv`` -> ``gcp``)."""
    return Path(offer.source).stem.lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def site_name(cloud: str, region: str) -> str:
    return f"{cloud}-{_slug(region)}"[:63].rstrip("-")


def gpu_offers(book: CatalogPriceBook) -> list[InstanceOffer]:
    """Every offer with whole GPUs, in a stable order."""
    offers = [o for t in book.instance_types() for o in book.offers(t) if o.accelerator_count >= 1]
    return sorted(offers, key=lambda o: (cloud_of(o), o.region, o.instance_type))


def fleet_document(book: CatalogPriceBook, pool_max: int) -> dict[str, Any]:
    """A fleet document with a site per (cloud, region) and two pools per GPU instance type."""
    sites: dict[str, dict[str, Any]] = {}
    for offer in gpu_offers(book):
        cloud = cloud_of(offer)
        name = site_name(cloud, offer.region)
        site = sites.setdefault(
            name,
            {
                "name": name,
                "kind": "cloud",
                "provider": cloud,
                "region": offer.region,
                "jurisdiction": "global",
                "pools": [],
            },
        )
        models = ["on_demand"] + (["spot"] if offer.spot_usd_per_hour is not None else [])
        taken = {p["name"] for p in site["pools"]}
        for model in models:
            pool = _slug(offer.instance_type)[:56] + ("-spot" if model == "spot" else "")
            while pool in taken:  # two types that differ only in case or punctuation
                pool += "x"
            taken.add(pool)
            site["pools"].append(
                {
                    "name": pool,
                    "backend": "emulated",
                    "nodes": {"min": 0, "max": pool_max},
                    "node": {"instance_type": offer.instance_type},
                    "pricing": {"model": model, "interruption_rate_per_hour": 0.0},
                }
            )
    return {"sites": list(sites.values())}


def build_fleet(book: CatalogPriceBook, pool_max: int = 8) -> Fleet:
    return fleet_from_document(fleet_document(book, pool_max), "catalog fleet", book)


def default_tasks() -> list[Task]:
    """The task list: GPU types, counts, node counts, spot, cloud and region limits."""
    tasks: list[Task] = []

    def add(
        acc: str, gpus: int, nodes: int, spot: bool, clouds: Sequence[str] = (), **kw: Any
    ) -> None:
        regions = tuple(kw.get("regions", ()))
        where = "+".join(clouds) or "any"
        if regions:
            where += "@" + "+".join(regions)
        name = f"{nodes}x{gpus}x{acc}-{'spot' if spot else 'od'}-{where}"
        tasks.append(Task(name, acc, gpus, nodes, spot, tuple(clouds), regions))

    # Any cloud, on demand and spot, 1 to 8 GPUs per node, 1 to 4 nodes.
    for acc, counts in (
        ("H100", (1, 2, 8)),
        ("H200", (8,)),
        ("A100-80GB", (1, 8)),
        ("A100", (1, 8)),
        ("L4", (1, 4)),
        ("T4", (1,)),
        ("V100", (1, 8)),
        ("A10", (1,)),
        ("B200", (1, 8)),
        ("RTX4090", (1,)),
        ("L40S", (1,)),
    ):
        for gpus in counts:
            for nodes in (1, 2) if gpus < 8 else (1, 4):
                add(acc, gpus, nodes, spot=False)
            add(acc, gpus, 1, spot=True)
    # Cloud limits.
    for clouds in (("gcp",), ("azure",), ("gcp", "azure"), ("lambda",)):
        for acc, gpus in (("H100", 8), ("A100-80GB", 1), ("H100", 1)):
            add(acc, gpus, 1, spot=False, clouds=clouds)
        add("A100-80GB", 8, 2, spot=True, clouds=clouds)
    add("L4", 1, 3, spot=True, clouds=("gcp",))
    add("T4", 4, 1, spot=False, clouds=("azure",))
    add("V100", 4, 2, spot=True, clouds=("azure",))
    add("A10", 2, 1, spot=False, clouds=("azure",))
    add("B200", 4, 2, spot=False, clouds=("lambda",))
    add("H200", 4, 1, spot=False, clouds=("vast",))
    # Region limits.
    add("L4", 1, 1, spot=False, clouds=("gcp",), regions=("europe-west4",))
    add("L4", 8, 2, spot=True, clouds=("gcp",), regions=("us-central1",))
    add("H100", 8, 1, spot=False, clouds=("gcp",), regions=("us-east4",))
    add("H100", 1, 1, spot=False, clouds=("azure",), regions=("eastus",))
    add("A100-80GB", 4, 1, spot=True, clouds=("azure",), regions=("westeurope",))
    add("H100", 8, 2, spot=False, clouds=("lambda",), regions=("us-east-1",))
    # No instance can take these.
    add("A100", 1, 1, spot=False, clouds=("azure",))
    add("H200", 1, 1, spot=False, clouds=("gcp",))
    add("B200", 8, 1, spot=False, clouds=("azure",))
    return tasks


def task_constraints(task: Task, fleet: Fleet, limits: str) -> Constraints:
    """The task's cloud and region limits, as clouds/regions or as the matching site names."""
    if limits == "clouds":
        return Constraints(clouds=task.clouds, regions=task.regions)
    if not task.clouds and not task.regions:
        return Constraints()
    names = tuple(
        s.name
        for s in fleet.sites
        if (not task.clouds or s.provider in task.clouds)
        and (not task.regions or s.region in task.regions)
    )
    # No site matches: a site name that none has, so the limit still refuses every pool.
    return Constraints(sites=names or ("no-such-site",))


def task_workload(task: Task, constraints: Constraints) -> Workload:
    accelerator = canonical_name(task.accelerator) or task.accelerator
    return Workload(
        name=task.name,
        team="bench",
        kind=WorkloadKind.TRAIN,
        run="true",
        replicas=task.nodes,
        accelerators=(AcceleratorOption(accelerator, task.gpus),),
        cpus=1,
        memory_gib=1,
        estimated_hours=1.0,
        spot=SpotPolicy.REQUIRED if task.spot else SpotPolicy.NEVER,
        constraints=constraints,
    )


def catalog_price(pool: Pool, region: str, book: CatalogPriceBook) -> float:
    """The catalog's hourly price of one instance of ``pool`` in ``region``, spot or on demand
    as the pool is priced; the cheapest zone of the region, as SkyPilot takes it."""
    offers = book.offers(pool.instance_type or "", region)
    if not offers:
        raise LookupError(f"{pool.instance_type} in {region} is not in the catalog")
    if pool.pricing.model is not PricingModel.SPOT:
        return offers[0].usd_per_hour
    spot = offers[0].spot_usd_per_hour
    if spot is None:
        raise LookupError(f"{pool.instance_type} in {region} has no spot price")
    return spot


def billed_usd_per_hour(placement: Placement, usd_per_instance_hour: float) -> float:
    """What the cloud bills for ``placement``: each distinct node is an instance, billed
    whole, whatever share of it the placement uses."""
    return len(placement_nodes(placement)) * usd_per_instance_hour


def placement_nodes(placement: Placement) -> set[str]:
    return {a.node for a in placement.assignments} | set(placement.instances)


class AiplaneSide:
    """The engine on the empty catalog fleet, one task pending at a time."""

    def __init__(self, book: CatalogPriceBook, fleet: Fleet, limits: str) -> None:
        self.book = book
        self.fleet = fleet
        self.limits = limits
        self.state = SchedulerState(fleet)
        self.engine = Engine()
        self.pools = {p.key: p for p in fleet.pools()}
        self.regions = {p.key: s.region for s in fleet.sites for p in s.pools}

    def decide(self, task: Task, index: int, repeat: int = 1) -> dict[str, Any]:
        workload = task_workload(task, task_constraints(task, self.fleet, self.limits))
        run = PendingRun(f"r{index}", f"j{index}", workload, submitted_at=0.0)
        self.state.put_pending(run)
        snapshot = self.state.snapshot(NOW)
        times = []
        for _ in range(repeat):  # the fastest run: the machine may be shared
            with paused_collector():
                start = time.perf_counter()
                decisions = self.engine.decide(snapshot)
                times.append((time.perf_counter() - start) * 1000)
        ms = min(times)
        self.state.vacate(run.run_id)
        place = next(
            (d for d in decisions if isinstance(d, Place) and d.run_id == run.run_id), None
        )
        if place is None:
            return {"feasible": False, "ms": ms}
        placement = place.placement
        pool = self.pools[placement.pool]
        site = self.fleet.site(pool.site)
        nodes = placement_nodes(placement)
        price = catalog_price(pool, self.regions[pool.key], self.book)
        node_gpus = pool.node.gpus
        used: dict[str, float] = {}
        for a in placement.assignments:
            used[a.node] = used.get(a.node, 0.0) + a.gpus
        return {
            "feasible": True,
            "ms": ms,
            "pool": pool.key,
            "instance_type": pool.instance_type,
            "cloud": site.provider if site else None,
            "region": site.region if site else None,
            "spot": pool.pricing.model is PricingModel.SPOT,
            "instances": len(nodes),
            "gpus_per_instance": node_gpus,
            "usd_per_instance_hour": price,
            "billed_usd_per_hour": round(billed_usd_per_hour(placement, price), 6),
            "estimate_usd_per_hour": round(placement.usd_per_hour, 6),
            # The faults of an engine that prices shares: a node used for fewer GPUs than it
            # has (billed whole all the same), and replicas packed onto fewer instances than
            # the task's node count.
            "fractional": any(g < node_gpus for g in used.values()),
            "packed": len(nodes) < task.nodes,
            # An engine that ignores cloud and region limits places outside them.
            "within_limits": (
                not task.clouds or (site is not None and site.provider in task.clouds)
            )
            and (not task.regions or (site is not None and site.region in task.regions)),
        }


def run_skypilot(
    python: str, catalog: Path, tasks: Sequence[Task], timeout_s: float, repeat: int = 1
) -> list[dict[str, Any]]:
    """SkyPilot's picks from the sidecar, one per task, in the tasks' order."""
    with tempfile.TemporaryDirectory(prefix="aiplane-sky-") as tmp:
        tasks_file = Path(tmp) / "tasks.json"
        tasks_file.write_text(json.dumps([asdict(t) for t in tasks]))
        out = subprocess.run(
            [
                python,
                str(SIDECAR),
                "--catalog",
                str(catalog),
                "--tasks",
                str(tasks_file),
                "--repeat",
                str(repeat),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
    if out.returncode != 0:
        raise RuntimeError(f"SkyPilot sidecar failed ({out.returncode}): {out.stderr[-2000:]}")
    picks = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if len(picks) != len(tasks):
        raise RuntimeError(f"SkyPilot sidecar gave {len(picks)} picks for {len(tasks)} tasks")
    return picks


def _p50(values: Iterable[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return round(statistics.median(data), 3) if data else None


def summarise(
    tasks: Sequence[Task],
    ours: Sequence[dict[str, Any]],
    sky: Sequence[dict[str, Any]] | None,
    limits: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The JSON line and the per-task details."""
    details: list[dict[str, Any]] = []
    counts = dict.fromkeys(
        (
            "cheaper",
            "equal",
            "dearer",
            "infeasible_both",
            "aiplane_only_infeasible",
            "skypilot_only_infeasible",
            "aiplane_outside_limits",
            "aiplane_packed",
        ),
        0,
    )
    for i, (task, mine) in enumerate(zip(tasks, ours, strict=True)):
        row: dict[str, Any] = {"task": asdict(task), "aiplane": mine}
        if sky is not None:
            theirs = sky[i]
            row["skypilot"] = theirs
            a, s = mine["feasible"], theirs["feasible"]
            if not a and not s:
                counts["infeasible_both"] += 1
            elif not a:
                counts["aiplane_only_infeasible"] += 1
            elif not s:
                counts["skypilot_only_infeasible"] += 1
            elif not mine["within_limits"]:
                counts["aiplane_outside_limits"] += 1  # not comparable: another task solved
                row["verdict"] = "outside_limits"
            elif mine["packed"]:
                # Fewer instances than the task's nodes: cheaper only by not doing the task.
                counts["aiplane_packed"] += 1
                row["verdict"] = "packed"
            else:
                diff = mine["billed_usd_per_hour"] - theirs["usd_per_hour"]
                verdict = "equal" if abs(diff) <= EQUAL_USD else "cheaper" if diff < 0 else "dearer"
                counts[verdict] += 1
                row["verdict"] = verdict
        details.append(row)
    placed = [m for m in ours if m["feasible"]]
    ms_p50 = _p50(m["ms"] for m in ours)
    line: dict[str, Any] = {
        "bench": "placement_vs_skypilot",
        "tasks": len(tasks),
        "limits": limits,
        "spot_interruption_rate": 0.0,
        "aiplane_feasible": len(placed),
        "decision_ms_p50": ms_p50,
        "estimate_mismatch": sum(
            1
            for m in placed
            if abs(m["billed_usd_per_hour"] - m["estimate_usd_per_hour"]) > EQUAL_USD
        ),
        "fractional": sum(1 for m in placed if m["fractional"]),
        "packed": sum(1 for m in placed if m["packed"]),
        "outside_limits": sum(1 for m in placed if not m["within_limits"]),
        "aiplane_billed_usd_per_hour": round(sum(m["billed_usd_per_hour"] for m in placed), 4),
    }
    if sky is None:
        line.update(
            {k: None for k in counts},
            skypilot="not installed",
            skypilot_ms_p50=None,
            ratio=None,
        )
    else:
        sky_p50 = _p50(s["ms"] for s in sky)
        line.update(counts)
        line["skypilot"] = next((s["version"] for s in sky if s.get("version")), "installed")
        line["skypilot_ms_p50"] = sky_p50
        line["skypilot_network_blocked"] = max(
            (s.get("network_blocked") or 0 for s in sky), default=0
        )
        line["ratio"] = round(ms_p50 / sky_p50, 4) if ms_p50 is not None and sky_p50 else None
    return line, details


def run(
    catalog: Path,
    tasks: Sequence[Task],
    limits: str = "clouds",
    pool_max: int = 8,
    skypilot_python: str | None = None,
    skypilot_timeout_s: float = 1800,
    repeat: int = 1,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    book = CatalogPriceBook.from_dir(catalog)
    fleet = build_fleet(book, pool_max)
    side = AiplaneSide(book, fleet, limits)
    ours = [side.decide(task, i, repeat) for i, task in enumerate(tasks)]
    sky = (
        run_skypilot(skypilot_python, catalog, tasks, skypilot_timeout_s, repeat)
        if skypilot_python
        else None
    )
    line, details = summarise(tasks, ours, sky, limits)
    line["repeat"] = repeat
    line["pools"] = sum(1 for _ in fleet.pools())
    line["sites"] = len(fleet.sites)
    return line, details


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalog", type=Path, default=Path(DEFAULT_CATALOG))
    parser.add_argument(
        "--limits",
        choices=("clouds", "sites"),
        default="clouds",
        help="express cloud/region limits as Constraints(clouds, regions) or as site names",
    )
    parser.add_argument("--pool-max", type=int, default=8, help="nodes per elastic pool")
    parser.add_argument(
        "--skypilot-python",
        default=os.environ.get("SKYPILOT_PYTHON"),
        help="a Python with skypilot installed (default: $SKYPILOT_PYTHON; none: skipped)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="decisions timed per task, both sides; the fastest"
    )
    parser.add_argument("--details", type=Path, help="write one JSON line per task here")
    args = parser.parse_args(argv)
    line, details = run(
        args.catalog,
        default_tasks(),
        args.limits,
        args.pool_max,
        args.skypilot_python,
        repeat=max(1, args.repeat),
    )
    if args.details is not None:
        args.details.write_text("".join(json.dumps(d) + "\n" for d in details))
    print(json.dumps(line))


if __name__ == "__main__":
    main(sys.argv[1:])
