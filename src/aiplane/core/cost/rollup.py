"""Roll-ups: cost lines summed by team, project, workload, model, endpoint, site, pool,
pricing model, accelerator or run, for one period; by endpoint, with the requests served."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.metering import CostLines, LineKind
from aiplane.core.cost.requests import RequestTotals, usd_per_1k_requests

# The report dimensions, by the name users give (``pricing`` is the pricing model).
DIMENSIONS = {
    "team": "team",
    "project": "project",
    "workload": "workload",
    "model": "model",
    "endpoint": "endpoint",
    "site": "site",
    "pool": "pool",
    "pricing": "pricing",
    "accelerator": "accelerator",
    "run": "run_id",
}


@dataclass(frozen=True)
class RollupRow:
    key: str | None
    usd: float  # effective (amortised) cost: what the group's use cost
    billed_usd: float
    list_usd: float
    compute_usd: float
    egress_usd: float
    gpu_hours: float
    runs: int
    idle_share_usd: float = 0.0
    # By endpoint: what the endpoint served in the period (None: not a report by endpoint,
    # or the usage that is no endpoint's).
    requests: RequestTotals | None = None

    @property
    def total_usd(self) -> float:
        return self.usd + self.idle_share_usd

    @property
    def usd_per_1k_requests(self) -> float | None:
        if self.requests is None:
            return None
        return usd_per_1k_requests(self.total_usd, self.requests.requests)


def rollup(
    lines: CostLines,
    usage: UsageColumns,
    by: str,
    idle_shares: dict[str, float] | None = None,
) -> list[RollupRow]:
    """One row per value of dimension ``by``, costliest first. ``idle_shares`` (key -> USD,
    e.g. from :func:`~aiplane.core.cost.allocation.idle_by_team`) adds shared idle cost."""
    if by not in DIMENSIONS:
        raise ValueError(f"unknown dimension {by!r} (known: {', '.join(DIMENSIONS)})")
    category = usage.category(DIMENSIONS[by])
    n = len(category.values)
    codes = category.codes[lines.src]
    egress = lines.kind == int(LineKind.EGRESS)

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights, minlength=n)

    usd = total(lines.effective_usd)
    egress_usd = total(np.where(egress, lines.effective_usd, 0.0))
    billed = total(lines.billed_usd)
    listed = total(lines.list_usd)
    gpu_hours = total(lines.gpu_hours)
    pairs = np.unique(codes * max(1, len(usage.run_id.values)) + usage.run_id.codes[lines.src])
    runs = np.bincount(pairs // max(1, len(usage.run_id.values)), minlength=n)
    present = np.bincount(codes, minlength=n) > 0
    shares = dict(idle_shares or {})
    rows = [
        RollupRow(
            key=category.values[i],
            usd=float(usd[i]),
            billed_usd=float(billed[i]),
            list_usd=float(listed[i]),
            compute_usd=float(usd[i] - egress_usd[i]),
            egress_usd=float(egress_usd[i]),
            gpu_hours=float(gpu_hours[i]),
            runs=int(runs[i]),
            idle_share_usd=shares.pop(str(category.values[i]), 0.0),
        )
        for i in range(n)
        if present[i]
    ]
    # Idle shared to keys without use of their own in the period (e.g. "(unallocated)").
    rows += [RollupRow(k, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, v) for k, v in shares.items()]
    rows.sort(key=lambda r: (-r.total_usd, str(r.key)))
    return rows


def with_requests(
    rows: Iterable[RollupRow], totals: Mapping[str, RequestTotals]
) -> list[RollupRow]:
    """Rows of a report by endpoint with each endpoint's requests and tokens, costliest
    first. An endpoint that served requests but cost nothing in the period gets a row of its
    own; the row of usage that is no endpoint's (key None) gets no requests."""
    left = dict(totals)
    out = [
        row if row.key is None else replace(row, requests=left.pop(row.key, RequestTotals()))
        for row in rows
    ]
    out += [RollupRow(k, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, requests=t) for k, t in left.items()]
    out.sort(key=lambda r: (-r.total_usd, str(r.key)))
    return out
