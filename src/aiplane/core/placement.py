"""Offers and the placement cost model.

An offer is one way to run a workload: a pool and one of the workload's acceptable accelerator
options. Hard constraints reject an offer with a reason; feasible offers are priced so the
scheduler can take the cheapest that has capacity. Every rejection is kept for explanations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiplane.core.fleet import Fleet, Pool, PricingModel, Site
from aiplane.core.workloads import AcceleratorOption, SpotPolicy, Workload, WorkloadKind

# Used when a workload gives no estimate: cost comparisons then rank by hourly price.
DEFAULT_ESTIMATED_HOURS = 1.0


class RejectReason(StrEnum):
    CONSTRAINT = "constraint"
    CAPACITY = "capacity"
    QUOTA = "quota"
    PRICE = "price"


@dataclass(frozen=True)
class CostBreakdown:
    usd_per_hour: float
    compute_usd: float
    egress_usd: float
    estimated_hours: float

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.egress_usd

    def as_dict(self) -> dict[str, float]:
        return {
            "usd_per_hour": round(self.usd_per_hour, 6),
            "compute_usd": round(self.compute_usd, 6),
            "egress_usd": round(self.egress_usd, 6),
            "estimated_hours": round(self.estimated_hours, 6),
            "total_usd": round(self.total_usd, 6),
        }


@dataclass(frozen=True)
class Offer:
    pool: Pool
    site: Site
    option: AcceleratorOption | None
    cost: CostBreakdown

    def describe(self) -> dict[str, Any]:
        return {
            "pool": self.pool.key,
            "site_kind": str(self.site.kind),
            "jurisdiction": self.site.jurisdiction,
            "pricing": str(self.pool.pricing.model),
            "accelerator": self.option.name if self.option else None,
            "gpus_per_replica": self.option.count if self.option else 0,
            "emulated": self.pool.emulated,
            "cost": self.cost.as_dict(),
        }


@dataclass(frozen=True)
class Rejection:
    pool: str
    reason: RejectReason
    detail: str
    accelerator: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "accelerator": self.accelerator,
            "reason": str(self.reason),
            "detail": self.detail,
        }


def required_jurisdictions(workload: Workload, fleet: Fleet) -> set[str] | None:
    """Jurisdictions the work may run in: its own constraint, narrowed by its inputs' data."""
    allowed: set[str] | None = set(workload.constraints.jurisdictions) or None
    for name in workload.inputs:
        dataset = fleet.dataset(name)
        if dataset is not None and dataset.jurisdiction:
            allowed = (
                {dataset.jurisdiction} if allowed is None else allowed & {dataset.jurisdiction}
            )
    return allowed


def _egress_usd(workload: Workload, site: Site, fleet: Fleet) -> float:
    total = 0.0
    for name in workload.inputs:
        dataset = fleet.dataset(name)
        if dataset is None or dataset.site == site.name:
            continue
        source = fleet.site(dataset.site)
        # Egress is billed by the site the data leaves.
        total += dataset.size_gb * (source.egress_usd_per_gb if source else 0.0)
    return total


def _constraint_violation(
    workload: Workload, site: Site, pool: Pool, jurisdictions: set[str] | None
) -> str | None:
    c = workload.constraints
    if jurisdictions is not None and site.jurisdiction not in jurisdictions:
        allowed = ", ".join(sorted(jurisdictions)) or "none"
        return f"jurisdiction {site.jurisdiction} not allowed (allowed: {allowed})"
    if c.site_kinds and str(site.kind) not in c.site_kinds:
        return f"site kind {site.kind} not allowed (allowed: {', '.join(c.site_kinds)})"
    if c.sites and site.name not in c.sites:
        return f"site {site.name} not in the workload's sites"
    is_spot = pool.pricing.model is PricingModel.SPOT
    if is_spot and workload.spot is SpotPolicy.NEVER:
        return "spot capacity not allowed for this workload"
    if not is_spot and workload.spot is SpotPolicy.REQUIRED:
        return "workload requires spot capacity"
    if workload.kind is WorkloadKind.SERVE:
        for region, slo in c.latency_slo_ms.items():
            latency = site.latency_ms.get(region)
            if latency is None or latency > slo:
                shown = "unknown" if latency is None else f"{latency:g} ms"
                return f"latency to {region} is {shown}, SLO {slo:g} ms"
    return None


def evaluate_offers(workload: Workload, fleet: Fleet) -> tuple[list[Offer], list[Rejection]]:
    """Every feasible offer, cheapest first, and every rejected one with its reason."""
    offers: list[Offer] = []
    rejections: list[Rejection] = []
    jurisdictions = required_jurisdictions(workload, fleet)
    hours = workload.estimated_hours or DEFAULT_ESTIMATED_HOURS
    for site in fleet.sites:
        egress = _egress_usd(workload, site, fleet)
        for pool in site.pools:
            violation = _constraint_violation(workload, site, pool, jurisdictions)
            for option in workload.options():
                name = option.name if option else None
                if violation is not None:
                    rejections.append(Rejection(pool.key, RejectReason.CONSTRAINT, violation, name))
                    continue
                mismatch = _shape_mismatch(workload, pool, option)
                if mismatch is not None:
                    rejections.append(Rejection(pool.key, RejectReason.CONSTRAINT, mismatch, name))
                    continue
                per_hour = pool.usd_per_hour_for(workload.replica_need(option)) * workload.replicas
                limit = workload.constraints.max_usd_per_hour
                if limit is not None and per_hour > limit:
                    detail = f"${per_hour:.2f}/h exceeds max_usd_per_hour ${limit:.2f}"
                    rejections.append(Rejection(pool.key, RejectReason.PRICE, detail, name))
                    continue
                speed = option.speed if option else 1.0
                run_hours = hours / speed
                cost = CostBreakdown(per_hour, per_hour * run_hours, egress, run_hours)
                offers.append(Offer(pool, site, option, cost))
    offers.sort(key=lambda o: (o.cost.total_usd, o.cost.usd_per_hour, o.pool.key))
    return offers, rejections


def _shape_mismatch(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> str | None:
    shape = pool.node
    if option is None:
        if shape.gpus > 0:
            # Like a GPU taint: CPU-only work must not strand a GPU node's accelerators.
            return "GPU nodes are kept for GPU work"
        if workload.cpus > shape.cpus or workload.memory_gib > shape.memory_gib:
            return (
                f"a replica needs {workload.cpus:g} CPUs / {workload.memory_gib:g} GiB; "
                f"nodes have {shape.cpus:g} / {shape.memory_gib:g}"
            )
        return None
    if shape.accelerator != option.name:
        return f"accelerator {shape.accelerator or 'none'} is not {option.name}"
    if option.count > shape.gpus:
        return f"a replica needs {option.count:g} GPUs; nodes have {shape.gpus}"
    if workload.cpus > shape.cpus or workload.memory_gib > shape.memory_gib:
        return (
            f"a replica needs {workload.cpus:g} CPUs / {workload.memory_gib:g} GiB; "
            f"nodes have {shape.cpus:g} / {shape.memory_gib:g}"
        )
    return None
