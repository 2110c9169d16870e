"""Offers and the hybrid placement cost model.

An offer is one way to run a workload: a pool and one of the workload's acceptable accelerator
options. Hard constraints reject an offer with a reason; feasible offers get an expected cost:

    compute   = price per hour of the replicas x estimated hours / speed
                (owned at its marginal rate; reserved at zero while the prepaid commitment
                lasts; spot with the expected rework: interruptions per hour x hours lost per
                interruption, which is the checkpoint interval, or the whole run without one)

The price per hour follows how the capacity is billed (``instances``, decision 0039): a
replica on owned or reserved capacity, or on a rented pool's running (always-up) nodes, costs
its dominant share of the node; on a rented pool's new instances the run pays every instance
it starts whole (one per replica, or ``ceil(replicas / per instance)`` with ``pack``), and a
replica that would use a fraction of a new instance without ``pack`` is rejected.
    egress    = size of every input dataset with no replica at the site x the egress price
                of the cheapest replica's site (``data_movement``, shared with metering)
    time cost = (run hours + data transfer hours) x the value of an hour of the workload

and the scheduler takes the lowest score (compute + egress + time cost) that has capacity;
equal scores go to fewer new instances, then lower egress, then lower latency, then the pool
key. Every rejection is kept for explanations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from aiplane.core.data_movement import NO_MOVEMENT, DataMovement, data_movement
from aiplane.core.fleet import Fleet, Pool, PricingModel, Site
from aiplane.core.instances import (
    Billing,
    billings,
    idle_gpus,
    instances_needed,
    replicas_per_instance,
    whole_instance_problem,
)
from aiplane.core.scheduling.inputs import remaining_hours
from aiplane.core.workloads import (
    AcceleratorOption,
    Constraints,
    SpotPolicy,
    Workload,
    WorkloadKind,
)

# Used when a workload gives no estimate: comparisons then rank by hourly price.
DEFAULT_ESTIMATED_HOURS = 1.0


class RejectReason(StrEnum):
    CONSTRAINT = "constraint"
    CAPACITY = "capacity"
    QUOTA = "quota"
    PRICE = "price"
    BUDGET = "budget"


@dataclass(frozen=True)
class OfferContext:
    """What besides the fleet bears on the cost of an offer (from the scheduling snapshot)."""

    reserved_remaining_gpu_hours: Mapping[str, float] = field(default_factory=dict)
    budget_remaining_usd: float | None = None
    spot_or_owned_only: bool = False
    time_value_usd_per_hour: float | None = None
    checkpointed_hours: float = 0.0


NO_CONTEXT = OfferContext()


@dataclass(frozen=True)
class CostBreakdown:
    usd_per_hour: float
    compute_usd: float
    egress_usd: float
    estimated_hours: float
    rework_hours: float = 0.0
    transfer_hours: float = 0.0
    time_cost_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        """Money expected to be spent: compute and egress."""
        return self.compute_usd + self.egress_usd

    @cached_property
    def score(self) -> float:
        """What placement minimises: money plus the value of the time until it finishes."""
        return self.total_usd + self.time_cost_usd

    def as_dict(self) -> dict[str, float]:
        return {
            "usd_per_hour": round(self.usd_per_hour, 6),
            "compute_usd": round(self.compute_usd, 6),
            "egress_usd": round(self.egress_usd, 6),
            "estimated_hours": round(self.estimated_hours, 6),
            "rework_hours": round(self.rework_hours, 6),
            "transfer_hours": round(self.transfer_hours, 6),
            "time_cost_usd": round(self.time_cost_usd, 6),
            "total_usd": round(self.total_usd, 6),
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Offer:
    pool: Pool
    site: Site
    option: AcceleratorOption | None
    cost: CostBreakdown
    billing: Billing = Billing.SHARE
    # New instances the offer starts (0 unless billed whole), replicas on each, and the GPUs
    # they leave unused.
    instances: int = 0
    per_instance: int = 1
    idle_gpus: float = 0.0
    # The regions of a serve workload's latency SLO, for the latency tie-break.
    workload_slo: tuple[str, ...] = ()
    # The inputs copied to the site, each from the replica it is cheapest to copy.
    data: DataMovement = NO_MOVEMENT

    @property
    def accelerator(self) -> str | None:
        return self.option.name if self.option else None

    def sort_key(self) -> tuple[float, int, float, float, str]:
        """Best first: score (to 1e-6), then fewer new instances, lower egress, lower
        latency, and the pool key last so that the order is total."""
        return (
            round(self.cost.score, 6),
            self.instances,
            round(self.cost.egress_usd, 6),
            latency_ms(self.site, self.workload_slo),
            self.pool.key,
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pool": self.pool.key,
            "site_kind": str(self.site.kind),
            "jurisdiction": self.site.jurisdiction,
            "pricing": str(self.pool.pricing.model),
            "accelerator": self.accelerator,
            "gpus_per_replica": self.option.count if self.option else 0,
            "speed": self.option.speed if self.option else 1.0,
            "emulated": self.pool.emulated,
            "billing": str(self.billing),
            "instances": self.instances,
            "idle_gpus": self.idle_gpus,
            "cost": self.cost.as_dict(),
        }
        if self.data.transfers:  # only when data moves, so other explanations read as before
            out["data_moved"] = [t.describe() for t in self.data.transfers]
        return out


def latency_ms(site: Site, slo_regions: tuple[str, ...]) -> float:
    """The latency a tie-break compares: the worst to the regions a serve workload's SLO
    names, else the site's best to anywhere (infinite when it declares none)."""
    if slo_regions:
        return max(site.latency_ms.get(r, math.inf) for r in slo_regions)
    return min(site.latency_ms.values(), default=math.inf)


@dataclass(frozen=True)
class Rejection:
    pool: str
    reason: RejectReason
    detail: str
    accelerator: str | None = None
    # For offers rejected for capacity, quota or budget: what they would have cost.
    total_usd: float | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pool": self.pool,
            "accelerator": self.accelerator,
            "reason": str(self.reason),
            "detail": self.detail,
        }
        if self.total_usd is not None:
            out["total_usd"] = round(self.total_usd, 6)
        return out


def required_jurisdictions(workload: Workload, fleet: Fleet) -> set[str] | None:
    """Jurisdictions the work may run in: its own constraint, narrowed by its inputs' data."""
    allowed: set[str] | None = set(workload.constraints.jurisdictions) or None
    for ref in workload.inputs:
        dataset = fleet.dataset(ref)
        if dataset is not None and dataset.jurisdiction:
            allowed = (
                {dataset.jurisdiction} if allowed is None else allowed & {dataset.jurisdiction}
            )
    return allowed


def cloud_allowed(site: Site, clouds: tuple[str, ...]) -> bool:
    """Whether the site's provider is one of ``clouds`` (any case: ``GCP`` is ``gcp``); a site
    with no provider (on-premise, edge) is in no cloud."""
    provider = site.provider
    return provider is not None and provider.lower() in (c.lower() for c in clouds)


def _place_violation(c: Constraints, site: Site) -> str | None:
    """Why ``site`` is outside the workload's clouds or regions (decision 0040), or None."""
    if c.clouds and not cloud_allowed(site, c.clouds):
        allowed = ", ".join(c.clouds)
        if site.provider is None:
            return f"site {site.name} ({site.kind}) is in no cloud (allowed clouds: {allowed})"
        return f"cloud {site.provider} not allowed (allowed clouds: {allowed})"
    if c.regions and site.region not in c.regions:
        return f"region {site.region} not allowed (allowed regions: {', '.join(c.regions)})"
    return None


def constraint_violation(
    workload: Workload,
    site: Site,
    pool: Pool,
    jurisdictions: set[str] | None,
    context: OfferContext = NO_CONTEXT,
) -> str | None:
    """Why ``pool`` may never take ``workload`` (whatever its load), or None."""
    c = workload.constraints
    if jurisdictions is not None and site.jurisdiction not in jurisdictions:
        allowed = ", ".join(sorted(jurisdictions)) or "none"
        return f"jurisdiction {site.jurisdiction} not allowed (allowed: {allowed})"
    if c.site_kinds and str(site.kind) not in c.site_kinds:
        return f"site kind {site.kind} not allowed (allowed: {', '.join(c.site_kinds)})"
    if c.sites and site.name not in c.sites:
        return f"site {site.name} not in the workload's sites"
    place = _place_violation(c, site)
    if place is not None:
        return place
    model = pool.pricing.model
    is_spot = model is PricingModel.SPOT
    if is_spot and workload.spot is SpotPolicy.NEVER:
        return "spot capacity not allowed for this workload"
    if not is_spot and workload.spot is SpotPolicy.REQUIRED:
        return "workload requires spot capacity"
    if context.spot_or_owned_only and model not in (PricingModel.SPOT, PricingModel.OWNED):
        return f"team budget action: spot or owned capacity only (pool is {model})"
    if workload.kind is WorkloadKind.SERVE:
        for region, slo in c.latency_slo_ms.items():
            latency = site.latency_ms.get(region)
            if latency is None or latency > slo:
                shown = "unknown" if latency is None else f"{latency:g} ms"
                return f"latency to {region} is {shown}, SLO {slo:g} ms"
    return None


def shape_mismatch(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> str | None:
    """Why one replica can never fit a node of ``pool`` with ``option``, or None."""
    shape = pool.node
    if option is None:
        if shape.gpus > 0:
            # Like a GPU taint: CPU-only work must not strand a GPU node's accelerators.
            return "GPU nodes are kept for GPU work"
    else:
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


def _compute_cost(
    workload: Workload,
    pool: Pool,
    option: AcceleratorOption | None,
    context: OfferContext,
    billing: Billing = Billing.SHARE,
) -> tuple[float, float, float, float]:
    """(usd per hour, compute usd, run hours, rework hours) for the offer."""
    if billing is Billing.WHOLE:
        per_hour = instances_needed(workload, pool, option) * pool.pricing.usd_per_node_hour
    else:
        per_hour = pool.usd_per_hour_for(workload.replica_need(option)) * workload.replicas
    speed = option.speed if option else 1.0
    estimate = workload.estimated_hours or DEFAULT_ESTIMATED_HOURS
    hours = remaining_hours(estimate, context.checkpointed_hours) / speed
    pricing = pool.pricing
    rework = 0.0
    if pricing.model is PricingModel.SPOT and pricing.interruption_rate_per_hour > 0:
        lost_per_interruption = (
            workload.checkpoint_minutes / 60 if workload.checkpoint_minutes else hours
        )
        rework = hours * pricing.interruption_rate_per_hour * min(lost_per_interruption, hours)
    marginal = per_hour
    if pricing.model is PricingModel.RESERVED:
        gpu_hours = (option.count if option else 0.0) * workload.replicas * hours
        remaining = context.reserved_remaining_gpu_hours.get(pool.key)
        # Prepaid capacity costs nothing more until the commitment is used up.
        if remaining is None or remaining >= gpu_hours:
            marginal = 0.0
    return per_hour, marginal * (hours + rework), hours, rework


@dataclass(frozen=True)
class Screened:
    """One (pool, option) pair checked against everything that does not depend on the
    workload's duration: the expensive part of offer evaluation, shared by similar workloads."""

    pool: Pool
    site: Site
    option: AcceleratorOption | None
    problem: str | None  # a constraint or shape problem: the pair can never be used
    shape_ok: bool
    data: DataMovement
    billing: Billing = Billing.SHARE

    @property
    def egress_usd(self) -> float:
        return self.data.usd

    @property
    def transfer_hours(self) -> float:
        return self.data.hours


def screen_offers(
    workload: Workload, fleet: Fleet, context: OfferContext = NO_CONTEXT
) -> list[Screened]:
    out = []
    jurisdictions = required_jurisdictions(workload, fleet)
    for site in fleet.sites:
        data = data_movement(workload.inputs, site.name, fleet)
        for pool in site.pools:
            violation = constraint_violation(workload, site, pool, jurisdictions, context)
            for option in workload.options():
                mismatch = shape_mismatch(workload, pool, option)
                for billing in billings(pool):
                    problem = mismatch
                    if problem is None and billing is Billing.WHOLE:
                        problem = whole_instance_problem(workload, pool, option)
                    out.append(
                        Screened(
                            pool,
                            site,
                            option,
                            problem or violation,
                            problem is None,
                            data,
                            billing,
                        )
                    )
    return out


def evaluate_offers(
    workload: Workload,
    fleet: Fleet,
    context: OfferContext = NO_CONTEXT,
    screened: list[Screened] | None = None,
) -> tuple[list[Offer], list[Rejection]]:
    """Every feasible offer, best score first, and every rejected one with its reason.

    ``screened`` may be passed in from a cache of ``screen_offers`` for a workload with the
    same accelerators, shape and constraints (the scheduler does this within a cycle).
    """
    if screened is None:
        screened = screen_offers(workload, fleet, context)
    priced: list[tuple[Screened, float, float, float, float]] = []
    rejections: list[Rejection] = []
    limit = workload.constraints.max_usd_per_hour
    budget = context.budget_remaining_usd
    for entry in screened:
        name = entry.option.name if entry.option else None
        pool = entry.pool
        if not entry.shape_ok:
            rejections.append(
                Rejection(pool.key, RejectReason.CONSTRAINT, entry.problem or "", name)
            )
            continue
        per_hour, compute, hours, rework = _compute_cost(
            workload, pool, entry.option, context, entry.billing
        )
        expected = compute + entry.egress_usd
        if entry.problem is not None:
            # Priced anyway, so an explanation can say what the rule cost.
            rejections.append(
                Rejection(pool.key, RejectReason.CONSTRAINT, entry.problem, name, expected)
            )
            continue
        if limit is not None and per_hour > limit:
            detail = f"${per_hour:.2f}/h exceeds max_usd_per_hour ${limit:.2f}"
            rejections.append(Rejection(pool.key, RejectReason.PRICE, detail, name))
            continue
        if budget is not None and expected > budget:
            detail = f"expected ${expected:.2f} exceeds the team's remaining budget ${budget:.2f}"
            rejections.append(Rejection(pool.key, RejectReason.BUDGET, detail, name, expected))
            continue
        priced.append((entry, per_hour, compute, hours, rework))
    time_value = context.time_value_usd_per_hour
    if time_value is None and priced:
        # An hour of the workload is worth what its cheapest feasible hour of compute costs:
        # a slower accelerator must save more money than its extra hours are worth.
        time_value = min(p[1] for p in priced)
    slo = (
        tuple(sorted(workload.constraints.latency_slo_ms))
        if workload.kind is WorkloadKind.SERVE
        else ()
    )
    offers = [
        _offer(
            workload,
            entry,
            slo,
            CostBreakdown(
                usd_per_hour=per_hour,
                compute_usd=compute,
                egress_usd=entry.egress_usd,
                estimated_hours=hours,
                rework_hours=rework,
                transfer_hours=entry.transfer_hours,
                time_cost_usd=(hours + rework + entry.transfer_hours) * (time_value or 0.0),
            ),
        )
        for entry, per_hour, compute, hours, rework in priced
    ]
    offers.sort(key=Offer.sort_key)
    return offers, rejections


def _offer(workload: Workload, entry: Screened, slo: tuple[str, ...], cost: CostBreakdown) -> Offer:
    pool, option = entry.pool, entry.option
    if entry.billing is not Billing.WHOLE:
        return Offer(
            pool, entry.site, option, cost, entry.billing, workload_slo=slo, data=entry.data
        )
    return Offer(
        pool,
        entry.site,
        option,
        cost,
        Billing.WHOLE,
        instances_needed(workload, pool, option),
        replicas_per_instance(workload, pool, option),
        idle_gpus(workload, pool, option),
        slo,
        entry.data,
    )
