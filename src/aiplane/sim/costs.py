"""What simulated capacity costs: per attempt (usage) and per pool over the period (capacity).

Usage prices the GPU-hours a run held at its pool's rate; a reserved pool with a commitment is
priced at the commitment's rate. Capacity prices what the fleet pays whether used or not:
owned and fixed pools for every hour they were up, elastic pools for the node-hours they were
provisioned, and a reserved commitment pro rata over the period plus any use beyond it at the
pool's marginal rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiplane.core.fleet import Pool, PricingModel
from aiplane.core.resources import Resources
from aiplane.core.runs import ReplicaAssignment

HOURS_PER_MONTH = 730.0


def _commitment_rate(pool: Pool) -> float | None:
    p = pool.pricing
    if p.model is PricingModel.RESERVED and p.reserved_gpu_hours_per_month > 0:
        if p.reserved_usd_per_gpu_hour is not None:
            return p.reserved_usd_per_gpu_hour
        return p.usd_per_node_hour / pool.node.gpus if pool.node.gpus else 0.0
    return None


def attempt_rate(pool: Pool, assignments: Iterable[ReplicaAssignment]) -> float:
    """USD per hour of an attempt holding ``assignments`` in ``pool``."""
    committed = _commitment_rate(pool)
    if committed is not None:
        return committed * sum(a.gpus for a in assignments)
    return sum(pool.usd_per_hour_for(Resources(a.gpus, a.cpus, a.memory_gib)) for a in assignments)


def capacity_cost(
    pools: Mapping[str, Pool],
    up_node_s: Mapping[str, float],
    busy_gpu_s: Mapping[str, float],
    period_s: float,
) -> float:
    total = 0.0
    for key, pool in pools.items():
        committed = _commitment_rate(pool)
        if committed is None:
            total += up_node_s.get(key, 0.0) / 3600 * pool.pricing.usd_per_node_hour
            continue
        hours = pool.pricing.reserved_gpu_hours_per_month * period_s / 3600 / HOURS_PER_MONTH
        used = busy_gpu_s.get(key, 0.0) / 3600
        marginal = pool.pricing.usd_per_node_hour / pool.node.gpus if pool.node.gpus else 0.0
        total += hours * committed + max(0.0, used - hours) * marginal
    return total
