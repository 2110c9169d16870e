"""Idle cost of owned and reserved capacity, and sharing it out to teams by use.

Owned capacity costs its rate whether or not work runs on it; a reserved commitment is paid
whether or not it is used. What work did not use is idle cost: capacity at its rate minus the
cost of the lines that ran there. It is reported on its own, and can be shared out to the teams
that used the pool in proportion to their GPU-hours there (or their cost, for CPU pools), the
usual showback rule: whoever uses a pool carries its slack.

Capacity is the fleet in force now; a pool resized within the period is counted at its present
size for the whole period.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.metering import CostLines, LineKind, commitments
from aiplane.core.cost.periods import month_boundaries, month_start, next_month_start
from aiplane.core.fleet import Fleet, PricingModel

UNALLOCATED = "(unallocated)"


@dataclass(frozen=True)
class IdleCost:
    pool: str
    site: str
    pricing: str
    accelerator: str | None
    capacity_gpu_hours: float
    used_gpu_hours: float
    capacity_usd: float
    used_usd: float

    @property
    def idle_usd(self) -> float:
        return max(0.0, self.capacity_usd - self.used_usd)

    @property
    def idle_gpu_hours(self) -> float:
        return max(0.0, self.capacity_gpu_hours - self.used_gpu_hours)


def _month_share(start: float, end: float) -> float:
    """How many months [start, end) spans, counting partial months by their fraction."""
    edges = [start, *month_boundaries(start, end).tolist(), end]
    total = 0.0
    for a, b in itertools.pairwise(edges):
        length = next_month_start(a) - month_start(a)
        total += (b - a) / length
    return total


def idle_costs(
    lines: CostLines, usage: UsageColumns, fleet: Fleet, start: float, end: float
) -> list[IdleCost]:
    """Idle cost of every owned pool and every reserved pool with a commitment."""
    hours = max(0.0, end - start) / 3600.0
    compute = lines.kind == int(LineKind.COMPUTE)
    pool_codes = usage.pool.codes[lines.src]
    n = len(usage.pool.values)
    used_gh = np.bincount(pool_codes[compute], lines.gpu_hours[compute], minlength=n)
    used_usd = np.bincount(pool_codes[compute], lines.effective_usd[compute], minlength=n)
    committed = np.bincount(pool_codes[compute], lines.committed_gpu_hours[compute], minlength=n)
    reserved = commitments(fleet)
    months = _month_share(start, end)
    out: list[IdleCost] = []
    for pool in fleet.pools():
        code = usage.pool.code_of(pool.key)
        pool_gh, pool_usd, pool_committed = (
            (float(used_gh[code]), float(used_usd[code]), float(committed[code]))
            if code >= 0
            else (0.0, 0.0, 0.0)
        )
        if pool.pricing.model is PricingModel.OWNED:
            nodes = pool.nodes_max
            out.append(
                IdleCost(
                    pool.key,
                    pool.site,
                    str(pool.pricing.model),
                    pool.node.accelerator,
                    capacity_gpu_hours=nodes * pool.node.gpus * hours,
                    used_gpu_hours=pool_gh,
                    capacity_usd=nodes * pool.pricing.usd_per_node_hour * hours,
                    used_usd=pool_usd,
                )
            )
        elif pool.key in reserved:
            c = reserved[pool.key]
            cap = c.gpu_hours_per_month * months
            used = pool_committed
            out.append(
                IdleCost(
                    pool.key,
                    pool.site,
                    str(pool.pricing.model),
                    pool.node.accelerator,
                    capacity_gpu_hours=cap,
                    used_gpu_hours=used,
                    capacity_usd=cap * c.usd_per_gpu_hour,
                    used_usd=used * c.usd_per_gpu_hour,
                )
            )
    return out


def share_idle(
    idle: list[IdleCost], lines: CostLines, usage: UsageColumns
) -> dict[str, dict[str, float]]:
    """Each pool's idle dollars split over the teams that used it: pool -> team -> USD."""
    compute = lines.kind == int(LineKind.COMPUTE)
    pools = usage.pool.codes[lines.src][compute]
    teams = usage.team.codes[lines.src][compute]
    n_teams = max(1, len(usage.team.values))
    size = len(usage.pool.values) * n_teams
    key = pools * n_teams + teams
    by_gh = np.bincount(key, lines.gpu_hours[compute], minlength=size).reshape(-1, n_teams)
    by_usd = np.bincount(key, lines.effective_usd[compute], minlength=size).reshape(-1, n_teams)
    out: dict[str, dict[str, float]] = {}
    for item in idle:
        if item.idle_usd <= 0:
            continue
        code = usage.pool.code_of(item.pool)
        weights = np.zeros(n_teams)
        if code >= 0:
            weights = by_gh[code] if by_gh[code].sum() > 0 else by_usd[code]
        total = float(weights.sum())
        if total <= 0:
            out[item.pool] = {UNALLOCATED: item.idle_usd}
            continue
        out[item.pool] = {
            str(usage.team.values[t]): item.idle_usd * float(w) / total
            for t, w in enumerate(weights)
            if w > 0
        }
    return out


def idle_by_team(shares: dict[str, dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for per_team in shares.values():
        for team, usd in per_team.items():
            out[team] = out.get(team, 0.0) + usd
    return out
