"""Work that can never run, told at submission (decision 0031).

A workload is feasible when at least one pool, at its maximum elastic size and empty, could
take every replica with one of the workload's accelerator options, under the constraints that
no load changes (``placement.constraint_violation``: jurisdictions incl. the inputs' data,
site kinds, sites, clouds and regions, spot policy, latency SLOs) and the price limit
(``max_usd_per_hour`` against the pool's declared price). Everything else (capacity in use,
quota, budget) is the scheduler's business: such work waits with its specific reason.
A site, cloud or region the fleet has no site for is refused by name first
(:func:`unknown_places`, decision 0040).

When no pool can take it, :func:`infeasibility` returns one located Problem per field that
stopped the pools, naming why per pool and, as ``allowed``, the nearest offers the fleet has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiplane.core.errors import Problem
from aiplane.core.fleet import Fleet, Pool, Site
from aiplane.core.instances import (
    Billing,
    billings,
    instances_needed,
    replicas_per_node,
    whole_instance_problem,
)
from aiplane.core.placement import constraint_violation, required_jurisdictions
from aiplane.core.workloads import AcceleratorOption, Workload

# More replicas than any real gang: refused as a spec error whatever the fleet (issue #10).
MAX_REPLICAS = 10_000
# The field of a price no pool meets.
PRICE = "constraints.max_usd_per_hour"
# The fields of the place constraints, whose names the fleet must have (decision 0040).
SITES = "constraints.sites"
CLOUDS = "constraints.clouds"
REGIONS = "constraints.regions"
INFRA = "constraints.infra"
# Per-pool reasons shown in one problem's message before "and N more".
_SHOWN = 8
# The fleet's site, cloud or region names shown as ``allowed`` before "and N more".
_NAMES_SHOWN = 12
_EPS = 1e-9


@dataclass(frozen=True)
class _Stop:
    """Why one (pool, option) pair can never take the workload, and which field it is about."""

    location: str
    pool: str
    reason: str


def replica_problems(workload: Workload) -> list[Problem]:
    """A replica count no fleet is meant for (checked with or without a fleet)."""
    if workload.replicas > MAX_REPLICAS:
        return [
            Problem(
                "replicas",
                "more replicas than any gang aiplane places",
                str(workload.replicas),
                f"a whole number from 1 to {MAX_REPLICAS}",
            )
        ]
    return []


def _stop(
    workload: Workload,
    site: Site,
    pool: Pool,
    option: AcceleratorOption | None,
    jurisdictions: set[str] | None,
) -> _Stop | None:
    violation = constraint_violation(workload, site, pool, jurisdictions)
    if violation is not None:
        return _Stop("constraints", pool.key, violation)
    shape = pool.node
    if option is None:
        if shape.gpus > 0:
            return _Stop("resources.accelerators", pool.key, "GPU nodes are kept for GPU work")
    else:
        if shape.accelerator != option.name:
            got = shape.accelerator or "none"
            return _Stop("resources.accelerators", pool.key, f"{got}, not {option.name}")
        if option.count > shape.gpus + _EPS:
            return _Stop(
                "resources.accelerators",
                pool.key,
                f"a replica needs {option.count:g} GPUs; nodes have {shape.gpus}",
            )
    if workload.cpus > shape.cpus + _EPS:
        return _Stop("resources.cpus", pool.key, f"nodes have {shape.cpus:g} CPUs")
    if workload.memory_gib > shape.memory_gib + _EPS:
        return _Stop("resources.memory_gib", pool.key, f"nodes have {shape.memory_gib:g} GiB")
    if billings(pool) == (Billing.WHOLE,):
        # Only new instances could take it (decision 0039): never a fraction of one.
        whole = whole_instance_problem(workload, pool, option)
        if whole is not None:
            return _Stop("resources.accelerators", pool.key, whole)
    most = replicas_per_node(workload, pool, option) * pool.nodes_max
    if workload.replicas > most:
        return _Stop(
            "replicas",
            pool.key,
            f"at most {most} replicas on its {pool.nodes_max} nodes at full size",
        )
    limit = workload.constraints.max_usd_per_hour
    per_hour = _usd_per_hour(workload, pool, option)
    if limit is not None and per_hour > limit:
        # The pool's declared price, as placement compares it (``placement.offers``): no load
        # makes it cheaper, so a limit under every pool's price is never met.
        return _Stop(PRICE, pool.key, f"${per_hour:.2f}/h")
    return None


def _usd_per_hour(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> float:
    """The lowest price placement could quote on ``pool``: by share where the pool has
    nodes priced so, else its new instances whole."""
    if Billing.WHOLE in billings(pool) and len(billings(pool)) == 1:
        return instances_needed(workload, pool, option) * pool.pricing.usd_per_node_hour
    return pool.usd_per_hour_for(workload.replica_need(option)) * workload.replicas


def _cheapest(workload: Workload, fleet: Fleet) -> str:
    """The lowest price of the workload on a pool whose nodes fit it, for the price field."""
    prices = [
        (_usd_per_hour(workload, p, o), p.key)
        for p in fleet.pools()
        for o in workload.options()
        if (o is None and p.node.gpus == 0) or (o is not None and p.node.accelerator == o.name)
    ]
    if not prices:
        return "no pool fits it at any price"
    usd, key = min(prices)
    return f"at least ${usd:.2f}/h (at {key})"


def _node_text(pool: Pool) -> str:
    shape = pool.node
    gpus = f"{shape.gpus} x {shape.accelerator}, " if shape.accelerator else ""
    return f"{gpus}{shape.cpus:g} CPUs, {shape.memory_gib:g} GiB at {pool.key}"


def _nearest(location: str, workload: Workload, fleet: Fleet) -> str:
    """The offers nearest to what was asked, for the field ``location``."""
    pools = list(fleet.pools())
    if location == "constraints":
        return "; ".join(
            f"{p.key} ({s.jurisdiction}, {s.kind}, {p.pricing.model}) in {_infra(s) or s.region}"
            for s in fleet.sites
            for p in s.pools
        )
    if location == PRICE:
        return _cheapest(workload, fleet)
    if location == "replicas":
        counts = [
            (replicas_per_node(workload, p, o) * p.nodes_max, p.key, o)
            for p in pools
            for o in workload.options()
            if (o is None or p.node.accelerator == o.name)
        ]
        if not counts:
            return "none"
        most, key, option = max(counts, key=lambda c: (c[0], c[1]))
        what = f"{option.count:g} x {option.name}" if option else "CPU-only"
        return f"at most {most} replicas of {what} (at {key})"
    if location == "resources.accelerators":
        largest: dict[str, Pool] = {}
        for p in pools:
            name = p.node.accelerator
            if name is not None and (name not in largest or p.node.gpus > largest[name].node.gpus):
                largest[name] = p
        if not largest:
            return "CPU-only nodes (no GPUs in this fleet)"
        wanted = {o.name for o in workload.accelerators}
        instances = sorted(
            (p.node.accelerator, p.node.gpus, p.key)
            for p in pools
            if p.node.accelerator in wanted and billings(p) == (Billing.WHOLE,)
        )
        if instances and not workload.pack:
            # Rented instances are taken whole: say which sizes there are.
            return "; ".join(f"{g} x {name} (pool {key})" for name, g, key in instances)
        return "; ".join(
            f"largest node: {p.node.gpus} x {name} at {p.key}"
            for name, p in sorted(largest.items())
        )
    if not pools:
        return "no pools"
    attr = "cpus" if location == "resources.cpus" else "memory_gib"
    best = max(pools, key=lambda p: (getattr(p.node, attr), p.key))
    return f"largest node: {_node_text(best)}"


def _given(location: str, workload: Workload) -> str:
    if location == PRICE:
        return f"${workload.constraints.max_usd_per_hour or 0:.2f}/h"
    if location == "replicas":
        return str(workload.replicas)
    if location == "resources.cpus":
        return f"{workload.cpus:g}"
    if location == "resources.memory_gib":
        return f"{workload.memory_gib:g}"
    if location == "resources.accelerators":
        if not workload.accelerators:
            return "none (CPU-only)"
        return ", ".join(f"{o.count:g} x {o.name}" for o in workload.accelerators)
    c = workload.constraints
    parts = [
        f"jurisdictions={list(c.jurisdictions)}" if c.jurisdictions else "",
        f"site_kinds={list(c.site_kinds)}" if c.site_kinds else "",
        f"sites={list(c.sites)}" if c.sites else "",
        f"infra={c.infra}" if c.infra is not None else "",
        f"clouds={list(c.clouds)}" if c.clouds and c.infra is None else "",
        f"regions={list(c.regions)}" if c.regions and c.infra is None else "",
        f"spot={workload.spot}",
        f"inputs={list(workload.inputs)}" if workload.inputs else "",
    ]
    return ", ".join(p for p in parts if p)


def _message(stops: Iterable[_Stop]) -> str:
    lines = sorted({f"{s.pool}: {s.reason}" for s in stops})
    shown = "; ".join(lines[:_SHOWN])
    if len(lines) > _SHOWN:
        shown += f"; and {len(lines) - _SHOWN} more"
    return f"no pool can ever take it ({shown})"


def _names(known: Iterable[str]) -> str:
    """Sorted names for ``allowed``, the first ``_NAMES_SHOWN`` and how many more."""
    names = sorted(set(known))
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f", and {len(names) - _NAMES_SHOWN} more"
    return shown or "none"


def _infra(site: Site) -> str | None:
    """A site as SkyPilot's ``infra`` names it (``gcp/us-central1``); None outside clouds."""
    return f"{site.provider.lower()}/{site.region}" if site.provider else None


def _infra_problems(
    infra: str, cloud: str | None, region: str | None, fleet: Fleet
) -> list[Problem]:
    """The cloud, or the cloud and region pair, of ``infra`` that no site has."""
    pairs = [p for p in (_infra(s) for s in fleet.sites) if p is not None]
    clouds = {p.split("/", 1)[0] for p in pairs}
    if cloud is not None and cloud not in clouds:
        return [
            Problem(INFRA, f"no site of the fleet is in cloud {cloud}", repr(infra), _names(clouds))
        ]
    in_region = [s for s in fleet.sites if s.region == region]
    if cloud is not None:
        in_region = [s for s in in_region if s.provider and s.provider.lower() == cloud]
    if region is not None and not in_region:
        where = f"region {region} of cloud {cloud}" if cloud else f"region {region}"
        shown = [p for p in pairs if cloud is None or p.startswith(f"{cloud}/")]
        return [Problem(INFRA, f"no site of the fleet is in {where}", repr(infra), _names(shown))]
    return []


def unknown_places(workload: Workload, fleet: Fleet) -> list[Problem]:
    """A site, cloud or region that the workload names and no site of ``fleet`` has, each
    refused at its place in the list (decision 0040). Among known names it would be ignored
    silently, and alone it would say only that no pool meets the constraints."""
    if not fleet.sites:
        return []  # no fleet to compare with (left to the scheduler, as in infeasibility)
    c = workload.constraints
    problems = []
    sites = {s.name for s in fleet.sites}
    for i, name in enumerate(c.sites):
        if name not in sites:
            problems.append(
                Problem(
                    f"{SITES}[{i}]", "no site of the fleet has this name", repr(name), _names(sites)
                )
            )
    if c.infra is not None:
        cloud = c.clouds[0].lower() if c.clouds else None
        region = c.regions[0] if c.regions else None
        return problems + _infra_problems(c.infra, cloud, region, fleet)
    clouds = {s.provider.lower() for s in fleet.sites if s.provider}
    for i, name in enumerate(c.clouds):
        if name.lower() not in clouds:
            problems.append(
                Problem(
                    f"{CLOUDS}[{i}]",
                    "no site of the fleet is in this cloud",
                    repr(name),
                    _names(clouds),
                )
            )
    regions = {s.region for s in fleet.sites}
    for i, name in enumerate(c.regions):
        if name not in regions:
            problems.append(
                Problem(
                    f"{REGIONS}[{i}]",
                    "no site of the fleet is in this region",
                    repr(name),
                    _names(regions),
                )
            )
    return problems


def infeasibility(workload: Workload, fleet: Fleet) -> list[Problem]:
    """Why no pool of ``fleet`` could ever take ``workload``, or [] when one could.

    A pool whose GPUs are detected by the server and not known yet (``accelerator: auto``)
    is taken to fit: only the scheduler can tell then."""
    problems = replica_problems(workload) or unknown_places(workload, fleet)
    if problems:
        return problems
    jurisdictions = required_jurisdictions(workload, fleet)
    stops: list[_Stop] = []
    for site in fleet.sites:
        for pool in site.pools:
            if pool.node.auto_detect:
                return []
            for option in workload.options():
                stop = _stop(workload, site, pool, option, jurisdictions)
                if stop is None:
                    return []
                stops.append(stop)
    if not stops:
        return []  # no pools at all: nothing to compare with (left to the scheduler)
    by_location: dict[str, list[_Stop]] = {}
    for stop in stops:
        by_location.setdefault(stop.location, []).append(stop)
    return [
        Problem(
            location,
            _message(located),
            _given(location, workload),
            _nearest(location, workload, fleet),
        )
        for location, located in by_location.items()
    ]
