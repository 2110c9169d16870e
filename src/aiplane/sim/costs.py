"""What simulated capacity costs per pool over the period.

An attempt is priced by ``core.cost.attempts.attempt_rate``, as the live metering prices it
(at its effective rate: a reserved pool with a commitment at the commitment's rate). Capacity
prices what the fleet pays whether used or not: owned and fixed pools for every hour they were
up, elastic pools for the node-hours they were provisioned, and a reserved commitment pro rata
over the period plus any use beyond it at the pool's marginal rate.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiplane.core.cost.attempts import commitment_rate
from aiplane.core.fleet import Pool

HOURS_PER_MONTH = 730.0


def capacity_cost(
    pools: Mapping[str, Pool],
    up_node_s: Mapping[str, float],
    busy_gpu_s: Mapping[str, float],
    period_s: float,
) -> float:
    total = 0.0
    for key, pool in pools.items():
        committed = commitment_rate(pool)
        if committed is None:
            total += up_node_s.get(key, 0.0) / 3600 * pool.pricing.usd_per_node_hour
            continue
        hours = pool.pricing.reserved_gpu_hours_per_month * period_s / 3600 / HOURS_PER_MONTH
        used = busy_gpu_s.get(key, 0.0) / 3600
        marginal = pool.pricing.usd_per_node_hour / pool.node.gpus if pool.node.gpus else 0.0
        total += hours * committed + max(0.0, used - hours) * marginal
    return total
