"""Metering: usage intervals to cost lines, priced by the pool's pricing.

Each interval is cut at month boundaries (billing periods) and at the report's edges, so every
line lies in one billing period. A line carries FOCUS's four costs:

- ``list``: hours at the placement's price (owned: its amortised rate; on-demand and spot: the
  catalog price the fleet resolved; reserved: the rate once the commitment is used up);
- ``billed``: what the invoice of that period shows for the line. Usage covered by a reserved
  commitment is billed nothing, because the commitment is paid for up front;
- ``effective``: amortised: covered GPU-hours at the commitment's rate plus the rest as billed;
- ``contracted``: the same as effective here (aiplane models no negotiated discounts beyond
  commitments).

A reserved pool's commitment (GPU-hours per month) is consumed first come, first served in
time order within each month, which is why :func:`meter` must see every interval since the
start of the month that contains ``start``: earlier use in the month decides what is covered.

Egress is one line per attempt, at the attempt's start, for the data moved to its site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from aiplane.core.cost.attempts import commitment_rate
from aiplane.core.cost.columns import Floats, Ints, UsageColumns
from aiplane.core.cost.periods import month_boundaries, month_index
from aiplane.core.fleet import Fleet, PricingModel


class LineKind(IntEnum):
    COMPUTE = 0
    EGRESS = 1


@dataclass(frozen=True)
class Commitment:
    """A reserved pool's prepaid GPU-hours per calendar month and their effective rate."""

    gpu_hours_per_month: float
    usd_per_gpu_hour: float


def commitments(fleet: Fleet) -> dict[str, Commitment]:
    """The commitment of every reserved pool that declares one, by pool key."""
    out: dict[str, Commitment] = {}
    for pool in fleet.pools():
        rate = commitment_rate(pool)
        if rate is not None:
            out[pool.key] = Commitment(pool.pricing.reserved_gpu_hours_per_month, rate)
    return out


@dataclass(frozen=True)
class CostLines:
    """Cost lines in columns; ``src`` is each line's row in the usage it was metered from."""

    src: Ints
    kind: Ints
    start: Floats
    end: Floats
    hours: Floats
    gpu_hours: Floats
    quantity: Floats  # GPU-hours, or run-hours for CPU-only work, or GB for egress
    list_usd: Floats
    billed_usd: Floats
    effective_usd: Floats
    contracted_usd: Floats
    committed_gpu_hours: Floats  # covered by a reserved commitment

    def __len__(self) -> int:
        return len(self.src)

    def take(self, rows: Ints) -> CostLines:
        return CostLines(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @property
    def total_usd(self) -> float:
        return float(self.effective_usd.sum())


def meter(
    usage: UsageColumns,
    start: float,
    end: float,
    commitments: Mapping[str, Commitment] | None = None,
) -> CostLines:
    """Cost lines for the part of ``usage`` inside [start, end). See the module docstring for
    what ``usage`` must contain when reserved pools are involved."""
    compute = _compute_lines(usage, start, end, commitments or {})
    egress = _egress_lines(usage, start, end)
    if len(egress) == 0:
        return compute
    both = CostLines(
        **{
            f.name: np.concatenate([getattr(compute, f.name), getattr(egress, f.name)])
            for f in fields(CostLines)
        }
    )
    return both


def _split(s: Floats, e: Floats, boundaries: Floats) -> tuple[Ints, Floats, Floats]:
    """Cut each [s, e) at every boundary inside it: (source row, piece start, piece end)."""
    padded = np.concatenate([[-np.inf], boundaries, [np.inf]])
    lo = np.searchsorted(boundaries, s, side="right")
    hi = np.searchsorted(boundaries, e, side="left")
    pieces = np.maximum(hi - lo, 0) + 1
    rows = np.repeat(np.arange(len(s), dtype=np.int64), pieces)
    first = np.cumsum(pieces) - pieces
    offset = np.arange(len(rows), dtype=np.int64) - np.repeat(first, pieces)
    at = np.repeat(lo, pieces) + offset
    piece_start = np.maximum(s[rows], padded[at])
    piece_end = np.minimum(e[rows], padded[at + 1])
    return rows, piece_start, piece_end


def _compute_lines(
    usage: UsageColumns, start: float, end: float, commitments: Mapping[str, Commitment]
) -> CostLines:
    s = usage.start
    e = np.maximum(usage.end, s)
    if len(s):
        cuts = month_boundaries(float(s.min()), float(e.max()))
        cuts = np.unique(np.concatenate([cuts, [start, end]]))
    else:
        cuts = np.asarray([start, end], dtype=np.float64)
    rows, p_start, p_end = _split(s, e, cuts)
    hours = (p_end - p_start) / 3600.0
    gpus = usage.gpus[rows]
    gpu_hours = hours * gpus
    list_usd = hours * usage.usd_per_hour[rows]
    covered, rate = _committed(usage, rows, p_start, gpu_hours, commitments)
    uncovered = np.where(
        gpu_hours > 0, (gpu_hours - covered) / np.where(gpu_hours > 0, gpu_hours, 1), 1.0
    )
    billed = list_usd * uncovered
    effective = billed + covered * rate
    keep = np.flatnonzero((p_start >= start) & (p_end <= end) & (p_end > p_start))
    lines = CostLines(
        src=rows,
        kind=np.full(len(rows), int(LineKind.COMPUTE), dtype=np.int64),
        start=p_start,
        end=p_end,
        hours=hours,
        gpu_hours=gpu_hours,
        quantity=np.where(gpus > 0, gpu_hours, hours),
        list_usd=list_usd,
        billed_usd=billed,
        effective_usd=effective,
        contracted_usd=effective,
        committed_gpu_hours=covered,
    )
    return lines.take(keep)


def _committed(
    usage: UsageColumns,
    rows: Ints,
    p_start: Floats,
    gpu_hours: Floats,
    commitments: Mapping[str, Commitment],
) -> tuple[Floats, Floats]:
    """GPU-hours of each piece covered by its pool's commitment, and the commitment's rate."""
    covered = np.zeros(len(rows))
    rate = np.zeros(len(rows))
    if not commitments:
        return covered, rate
    pools = [str(p) for p in usage.pool.values]
    size = np.asarray(
        [commitments[p].gpu_hours_per_month if p in commitments else 0.0 for p in pools]
    )
    price = np.asarray(
        [commitments[p].usd_per_gpu_hour if p in commitments else 0.0 for p in pools]
    )
    reserved = usage.pricing.code_of(str(PricingModel.RESERVED))
    pool_code = usage.pool.codes[rows]
    mine = np.flatnonzero((usage.pricing.codes[rows] == reserved) & (size[pool_code] > 0))
    if len(mine) == 0:
        return covered, rate
    month = month_index(p_start[mine])
    order = mine[np.lexsort((p_start[mine], month, pool_code[mine]))]
    sorted_month = month_index(p_start[order])
    gh = gpu_hours[order]
    running = np.cumsum(gh)
    key = pool_code[order] * 1_000_000 + sorted_month
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = key[1:] != key[:-1]
    group_base = np.maximum.accumulate(np.where(new_group, running - gh, 0.0))
    used_before = running - gh - group_base
    cap = size[pool_code[order]]
    covered[order] = np.clip(cap - used_before, 0.0, gh)
    rate[order] = price[pool_code[order]]
    return covered, rate


def _egress_lines(usage: UsageColumns, start: float, end: float) -> CostLines:
    rows = np.flatnonzero(
        ((usage.egress_usd > 0) | (usage.egress_gb > 0))
        & (usage.start >= start)
        & (usage.start < end)
    )
    zero = np.zeros(len(rows))
    cost = usage.egress_usd[rows]
    return CostLines(
        src=rows.astype(np.int64),
        kind=np.full(len(rows), int(LineKind.EGRESS), dtype=np.int64),
        start=usage.start[rows],
        end=usage.start[rows],
        hours=zero,
        gpu_hours=zero,
        quantity=usage.egress_gb[rows],
        list_usd=cost,
        billed_usd=cost,
        effective_usd=cost,
        contracted_usd=cost,
        committed_gpu_hours=zero,
    )
