"""Building simulator inputs in tests: fleets, trace jobs and prepared workloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from aiplane.core.fleet import Fleet, PricingModel
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.workloads import Workload
from aiplane.sim.driver import SimOptions, SimResult, Simulator
from aiplane.sim.jobs import Prepared, ShapeOptions, Shaper, TraceJob, prepare
from tests.builders import fleet, pool, site


def small_fleet(spot_rate: float = 0.0) -> Fleet:
    """Two owned 8-GPU H100 nodes, four 4-GPU A100 nodes; optionally a spot H100 pool."""
    pools = [
        pool(site="dc", name="h100", nodes=2, model=PricingModel.OWNED, usd_per_node_hour=8.0),
        pool(
            site="dc",
            name="a100",
            accelerator="A100-80GB",
            gpus=4,
            nodes=4,
            model=PricingModel.OWNED,
            usd_per_node_hour=2.0,
        ),
    ]
    sites = [site("dc", pools=tuple(pools))]
    if spot_rate:
        spot = pool(site="cloud", name="spot", nodes=2, model=PricingModel.SPOT)
        spot = replace(spot, pricing=replace(spot.pricing, interruption_rate_per_hour=spot_rate))
        sites.append(site("cloud", pools=(spot,)))
    return fleet(*sites)


def jobs(*specs: tuple[float, float, float]) -> list[TraceJob]:
    """(submit, duration, GPUs) triples to trace jobs named j0, j1, ..."""
    return [TraceJob(f"j{i}", s, d, g) for i, (s, d, g) in enumerate(specs)]


def prepared(f: Fleet, trace: Sequence[TraceJob], shape: ShapeOptions | None = None) -> Prepared:
    return prepare(trace, Shaper(f, shape))


def with_workloads(p: Prepared, workloads: Sequence[Workload]) -> Prepared:
    return Prepared(p.jobs, tuple(workloads), p.shapes, p.dropped)


def simulate(
    f: Fleet,
    p: Prepared,
    policy: SchedulingPolicy,
    options: SimOptions | None = None,
) -> SimResult:
    return Simulator(f, p, policy, options).run()
