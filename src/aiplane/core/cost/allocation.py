"""Idle cost of owned and reserved capacity, and sharing it out to teams by use.

Owned capacity costs its rate whether or not work runs on it; a reserved commitment is paid
whether or not it is used. What work did not use is idle cost: capacity at its rate minus the
cost of the lines that ran there. It is reported on its own, and can be shared out to the teams
that used the pool in proportion to their GPU-hours there (or their cost, for CPU pools), the
usual showback rule: whoever uses a pool carries its slack.

Capacity is counted only while it existed (decision 0030): each pool over the spans in which a
fleet version containing it was in force, at that version's size and price, clipped to the
period. A fleet applied ten minutes ago has ten minutes of idle capacity, not a day's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiplane.core.cost.attempts import commitment_rate
from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.metering import CostLines, LineKind
from aiplane.core.cost.periods import month_boundaries, month_start, next_month_start
from aiplane.core.fleet import Fleet, Pool, PricingModel

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


@dataclass(frozen=True)
class PoolSpan:
    """``pool`` as one fleet version defined it, in force over [start, end)."""

    pool: Pool
    start: float
    end: float


def pool_spans(versions: Sequence[tuple[float, Fleet]]) -> list[PoolSpan]:
    """The spans of every pool over the fleet versions applied, as (applied_at, fleet) in the
    order applied: each version is in force until the next one, the last one from then on."""
    out: list[PoolSpan] = []
    for i, (at, fleet) in enumerate(versions):
        until = versions[i + 1][0] if i + 1 < len(versions) else math.inf
        if until <= at:
            continue
        out.extend(PoolSpan(pool, at, until) for pool in fleet.pools())
    return out


def in_force_throughout(fleet: Fleet) -> list[PoolSpan]:
    """Spans for ``fleet`` alone, as if it had always been in force (no history at hand)."""
    return pool_spans([(-math.inf, fleet)])


def _month_share(start: float, end: float) -> float:
    """How many months [start, end) spans, counting partial months by their fraction."""
    edges = [start, *month_boundaries(start, end).tolist(), end]
    total = 0.0
    for a, b in itertools.pairwise(edges):
        length = next_month_start(a) - month_start(a)
        total += (b - a) / length
    return total


def idle_costs(
    lines: CostLines, usage: UsageColumns, spans: Sequence[PoolSpan], start: float, end: float
) -> list[IdleCost]:
    """Idle cost of every owned pool and every reserved pool with a commitment, over the spans
    in [start, end) in which the pool existed (``pool_spans``)."""
    compute = lines.kind == int(LineKind.COMPUTE)
    pool_codes = usage.pool.codes[lines.src]
    n = len(usage.pool.values)
    used_gh = np.bincount(pool_codes[compute], lines.gpu_hours[compute], minlength=n)
    used_usd = np.bincount(pool_codes[compute], lines.effective_usd[compute], minlength=n)
    committed = np.bincount(pool_codes[compute], lines.committed_gpu_hours[compute], minlength=n)
    # Capacity per pool key, in the order the pools first appear; the pool's description
    # (site, pricing, accelerator) is that of its latest span counted.
    capacity: dict[str, tuple[Pool, float, float]] = {}
    for span in spans:
        a, b = max(start, span.start), min(end, span.end)
        if b <= a:
            continue
        pool = span.pool
        gh, usd = capacity[pool.key][1:] if pool.key in capacity else (0.0, 0.0)
        if pool.pricing.model is PricingModel.OWNED:
            hours = (b - a) / 3600.0
            gh += pool.nodes_max * pool.node.gpus * hours
            usd += pool.nodes_max * pool.pricing.usd_per_node_hour * hours
        else:
            rate = commitment_rate(pool)
            if rate is None:
                continue
            cap = pool.pricing.reserved_gpu_hours_per_month * _month_share(a, b)
            gh += cap
            usd += cap * rate
        capacity[pool.key] = (pool, gh, usd)
    out: list[IdleCost] = []
    for key, (pool, cap_gh, cap_usd) in capacity.items():
        code = usage.pool.code_of(key)
        reserved = pool.pricing.model is not PricingModel.OWNED
        if code >= 0:
            pool_gh = float(committed[code] if reserved else used_gh[code])
            pool_usd = (
                pool_gh * (commitment_rate(pool) or 0.0) if reserved else float(used_usd[code])
            )
        else:
            pool_gh, pool_usd = 0.0, 0.0
        out.append(
            IdleCost(
                key,
                pool.site,
                str(pool.pricing.model),
                pool.node.accelerator,
                capacity_gpu_hours=cap_gh,
                used_gpu_hours=pool_gh,
                capacity_usd=cap_usd,
                used_usd=pool_usd,
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
