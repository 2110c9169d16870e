"""The keys of what one engine cycle remembers, so that similar work is priced and packed once.

Within a cycle capacity only shrinks and quota use only grows (until a preemption), so the
engine keeps: the screened (pool, option) pairs per screen key, the priced offers per offer
key, and the requests known not to fit (a :data:`FitKey` each).
"""

from __future__ import annotations

from typing import Any

from aiplane.core.instances import Billing
from aiplane.core.placement import OfferContext
from aiplane.core.workloads import AcceleratorOption, Workload

# A request known not to fit this cycle: pool, billing, GPUs, CPUs, memory, replicas.
FitKey = tuple[str, str, float, float, float, int]


def fit_key(pool: str, billing: Billing, option: AcceleratorOption | None, w: Workload) -> FitKey:
    count = option.count if option else 0.0
    return (pool, str(billing), count, w.cpus, w.memory_gib, w.replicas)


def screening_key(w: Workload, ctx: OfferContext) -> tuple[Any, ...]:
    """Workloads with equal keys have the same feasible (pool, option) pairs."""
    return (w.placement_signature, ctx.spot_or_owned_only)


def pricing_key(w: Workload, ctx: OfferContext, screen: tuple[Any, ...]) -> tuple[Any, ...]:
    """Workloads with equal keys get the same priced offers."""
    return (
        screen,
        w.accelerators,
        w.replicas,
        w.estimated_hours,
        w.checkpoint_minutes,
        w.constraints.max_usd_per_hour,
        ctx.budget_remaining_usd,
        ctx.checkpointed_hours,
    )
