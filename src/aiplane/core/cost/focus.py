"""Cost lines as FinOps FOCUS 1.2 rows: every mandatory column, a few optional ones, and
aiplane's own columns prefixed ``x_``.

Rows are one per cost line (an attempt's compute within one billing period, or its egress),
plus one per idle owned or reserved pool and month, as providers report unused commitments.
Two renderings share one set of parts: :func:`focus_columns` (typed columns, for Parquet and
tests) and :func:`focus_csv` (text, in chunks). The CSV path is the hot one for large exports:
each distinct team, pool or run is escaped once and each row is one ``%`` format.

``Tags`` (FOCUS's key-value column, a JSON object) carries what a line is allocated to under
aiplane's own keys (``aiplane.team``, ``aiplane.project``, ``aiplane.model`` and, for a
replica of an endpoint, ``aiplane.endpoint``), so that a FinOps tool that reads no ``x_``
column can still group by them (decision 0060).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiplane.core.cost.allocation import IdleCost
from aiplane.core.cost.columns import Categorical, UsageColumns
from aiplane.core.cost.metering import CostLines, LineKind
from aiplane.core.cost.periods import iso, month_index, month_index_start
from aiplane.core.fleet import Fleet, SiteKind

MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)

# The file's column order, grouped by what a value depends on (the CSV path relies on it):
# billing month | constants | the line | pool and kind of line | the usage row.
_MONTH = ("BillingPeriodStart", "BillingPeriodEnd")
_CONSTANT = (
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeClass",
)
_LINE = (
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "PricingQuantity",
    "ConsumedQuantity",
)
_POOL_KIND = (
    "ChargeDescription",
    "PricingUnit",
    "ConsumedUnit",
    "PricingCategory",
    "ServiceCategory",
    "ServiceName",
    "InvoiceIssuerName",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "ResourceId",
    "x_site",
    "x_pool",
    "x_pricing_model",
    "x_cost_kind",
)
# What a run's usage row says of it: in practice a function of the run (see _run_texts).
_RUN = (
    "SubAccountId",
    "Tags",
    "x_team",
    "x_project",
    "x_workload",
    "x_model",
    "x_endpoint",
    "x_run",
)
# The Tags keys, in the order of the usage fields they come from.
TAG_KEYS = ("aiplane.team", "aiplane.project", "aiplane.model", "aiplane.endpoint")
_ROW = ("x_attempt", "x_gpu_hours", "x_avg_sm_activity")
COLUMNS = _MONTH + _CONSTANT + _LINE + _POOL_KIND + ("x_accelerator",) + _RUN + _ROW
NUMERIC = frozenset(
    {
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "PricingQuantity",
        "ConsumedQuantity",
        "x_attempt",
        "x_gpu_hours",
        "x_avg_sm_activity",
    }
)

PRICING_CATEGORY = {
    "owned": "Other",
    "on_demand": "Standard",
    "spot": "Dynamic",
    "reserved": "Committed",
}
_KIND_NAME = {LineKind.COMPUTE: "usage", LineKind.EGRESS: "egress"}


@dataclass(frozen=True)
class Account:
    id: str = "aiplane"
    name: str = "aiplane"
    currency: str = "USD"


def tags_text(
    team: str | None, project: str | None, model: str | None, endpoint: str | None
) -> str:
    """The Tags value: a JSON object of the allocation keys that have a value."""
    values = (team, project, model, endpoint)
    found = {k: v for k, v in zip(TAG_KEYS, values, strict=True) if v is not None}
    return json.dumps(found, separators=(",", ":"), ensure_ascii=False)


def _tag_fields(usage: UsageColumns) -> tuple[Categorical, ...]:
    return (usage.team, usage.project, usage.model, usage.endpoint)


def _row_tags(usage: UsageColumns, rows: np.ndarray) -> list[str]:
    """The Tags of usage rows ``rows``: each distinct combination is written once."""
    fields = _tag_fields(usage)
    if not len(rows):
        return []
    codes = np.stack([f.codes[rows] for f in fields], axis=1)
    combos, inverse = np.unique(codes, axis=0, return_inverse=True)
    texts = [
        tags_text(*(f.values[c] for f, c in zip(fields, combo, strict=True)))
        for combo in combos.tolist()
    ]
    return [texts[i] for i in inverse.reshape(-1).tolist()]


def _escape(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _pool_kind_values(
    fleet: Fleet, account: Account, pool: str, site: str, pricing: str, kind: str, gpu: bool
) -> tuple[str, ...]:
    """The _POOL_KIND columns for one pool and kind of line (usage, egress, idle)."""
    s = fleet.site(site)
    accelerator = None
    p = fleet.pool(pool)
    if p is not None:
        accelerator = p.node.accelerator
    # On-premise and edge capacity is the organisation's own: it is its own provider.
    cloud = s is not None and s.kind is SiteKind.CLOUD
    provider = (s.provider or s.name) if cloud and s is not None else account.name
    region = s.region if s is not None else ""
    what = f"{accelerator} GPU time" if gpu and accelerator else ("GPU time" if gpu else "CPU time")
    if kind == "egress":
        description = f"Data transfer of inputs to {site}"
        unit, category, service = "GB", "Networking", "Data Transfer"
        pricing_category = "Standard"
    else:
        unit = "GPU-Hours" if gpu else "Hours"
        category, service = "AI and Machine Learning", "GPU Compute" if gpu else "Compute"
        pricing_category = PRICING_CATEGORY.get(pricing, "Other")
        if kind == "idle":
            description = f"Idle {pricing} capacity of {pool}"
        else:
            description = f"{what} on {pool} ({pricing})"
    return (
        description,
        unit,
        unit,
        pricing_category,
        category,
        service,
        provider,
        provider,
        provider,
        region,
        pool,
        site,
        pool,
        pricing,
        kind,
    )


@dataclass(frozen=True)
class _Parts:
    """Per-line codes into small tables of rendered values."""

    month: np.ndarray  # month index of each line
    pool_kind: np.ndarray  # index into pool_kind_values
    pool_kind_values: list[tuple[str, ...]]
    sm: np.ndarray  # per line: avg SM activity or NaN


def _parts(
    lines: CostLines,
    usage: UsageColumns,
    fleet: Fleet,
    account: Account,
    sm_activity: Mapping[str, float],
) -> _Parts:
    src = lines.src
    pool_codes = usage.pool.codes[src]
    gpu = (usage.gpus[src] > 0).astype(np.int64)
    combined = (pool_codes * 2 + lines.kind) * 2 + gpu
    keys, inverse = np.unique(combined, return_inverse=True)
    values = []
    for key in keys.tolist():
        pool_code, rest = divmod(key, 4)
        kind, has_gpu = divmod(rest, 2)
        # Every line of a pool shares its site and pricing model: read them off one line.
        row = int(src[np.flatnonzero(pool_codes == pool_code)[0]])
        values.append(
            _pool_kind_values(
                fleet,
                account,
                str(usage.pool.values[pool_code]),
                str(usage.site.values[usage.site.codes[row]]),
                str(usage.pricing.values[usage.pricing.codes[row]]),
                _KIND_NAME[LineKind(kind)],
                bool(has_gpu),
            )
        )
    sm_by_run = np.asarray(
        [sm_activity.get(str(r), np.nan) for r in usage.run_id.values], dtype=np.float64
    )
    sm = sm_by_run[usage.run_id.codes[src]] if len(sm_by_run) else np.full(len(src), np.nan)
    return _Parts(month_index(lines.start), inverse.reshape(-1), values, sm)


def _month_bounds(month: int) -> tuple[str, str]:
    edges = month_index_start(np.asarray([month, month + 1], dtype=np.int64))
    return iso(float(edges[0])), iso(float(edges[1]))


def _idle_rows(
    idle: Sequence[tuple[float, float, IdleCost]], fleet: Fleet, account: Account
) -> list[dict[str, Any]]:
    rows = []
    for start, end, item in idle:
        if item.idle_usd <= 0:
            continue
        month = int(month_index(np.asarray([start]))[0])
        period_start, period_end = _month_bounds(month)
        gpu = item.capacity_gpu_hours > 0
        pk = _pool_kind_values(fleet, account, item.pool, item.site, item.pricing, "idle", gpu)
        quantity = item.idle_gpu_hours if gpu else (end - start) / 3600.0
        row: dict[str, Any] = dict(zip(_POOL_KIND, pk, strict=True))
        row.update(
            BillingPeriodStart=period_start,
            BillingPeriodEnd=period_end,
            ChargePeriodStart=iso(start),
            ChargePeriodEnd=iso(end),
            BilledCost=0.0 if item.pricing == "reserved" else item.idle_usd,
            EffectiveCost=item.idle_usd,
            ListCost=item.idle_usd,
            ContractedCost=item.idle_usd,
            PricingQuantity=quantity,
            ConsumedQuantity=quantity,
            x_accelerator=item.accelerator,
            x_gpu_hours=item.idle_gpu_hours,
        )
        rows.append(row)
    return rows


def _constants(account: Account) -> dict[str, Any]:
    return {
        "BillingAccountId": account.id,
        "BillingAccountName": account.name,
        "BillingCurrency": account.currency,
        "ChargeCategory": "Usage",
        "ChargeClass": None,
    }


def focus_columns(
    lines: CostLines,
    usage: UsageColumns,
    fleet: Fleet,
    *,
    idle: Sequence[tuple[float, float, IdleCost]] = (),
    account: Account | None = None,
    sm_activity: Mapping[str, float] | None = None,
) -> dict[str, list[Any]]:
    """Typed columns (numbers as floats, empty values as None), in :data:`COLUMNS` order.
    ``idle`` holds (start, end, idle cost) for each pool and month of the export."""
    account = account or Account()
    parts = _parts(lines, usage, fleet, account, sm_activity or {})
    src = lines.src
    n = len(src)
    months = {m: _month_bounds(m) for m in np.unique(parts.month).tolist()}
    cols: dict[str, list[Any]] = {
        "BillingPeriodStart": [months[m][0] for m in parts.month.tolist()],
        "BillingPeriodEnd": [months[m][1] for m in parts.month.tolist()],
    }
    for name, value in _constants(account).items():
        cols[name] = [value] * n
    cols["ChargePeriodStart"] = [iso(t) for t in lines.start.tolist()]
    cols["ChargePeriodEnd"] = [iso(t) for t in lines.end.tolist()]
    cols["BilledCost"] = lines.billed_usd.tolist()
    cols["EffectiveCost"] = lines.effective_usd.tolist()
    cols["ListCost"] = lines.list_usd.tolist()
    cols["ContractedCost"] = lines.contracted_usd.tolist()
    cols["PricingQuantity"] = lines.quantity.tolist()
    cols["ConsumedQuantity"] = lines.quantity.tolist()
    for i, name in enumerate(_POOL_KIND):
        table = [values[i] for values in parts.pool_kind_values]
        cols[name] = [table[k] for k in parts.pool_kind.tolist()]
    team = usage.team.take(src).decoded()
    cols["SubAccountId"] = team
    cols["Tags"] = _row_tags(usage, src)
    cols["x_team"] = list(team)
    cols["x_project"] = usage.project.take(src).decoded()
    cols["x_workload"] = usage.workload.take(src).decoded()
    cols["x_model"] = usage.model.take(src).decoded()
    cols["x_endpoint"] = usage.endpoint.take(src).decoded()
    cols["x_run"] = usage.run_id.take(src).decoded()
    cols["x_attempt"] = usage.attempt[src].tolist()
    cols["x_accelerator"] = usage.accelerator.take(src).decoded()
    cols["x_gpu_hours"] = lines.gpu_hours.tolist()
    cols["x_avg_sm_activity"] = [None if np.isnan(v) else v for v in parts.sm.tolist()]
    for row in _idle_rows(idle, fleet, account):
        full = {**_constants(account), **row}
        for name in COLUMNS:
            cols[name].append(full.get(name))
    return {name: cols[name] for name in COLUMNS}


def focus_csv(
    lines: CostLines,
    usage: UsageColumns,
    fleet: Fleet,
    *,
    idle: Sequence[tuple[float, float, IdleCost]] = (),
    account: Account | None = None,
    sm_activity: Mapping[str, float] | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[str]:
    """The CSV text, header first, in chunks of about ``chunk_rows`` rows."""
    account = account or Account()
    parts = _parts(lines, usage, fleet, account, sm_activity or {})
    yield ",".join(COLUMNS) + "\n"
    constant = ",".join(_escape(v) for v in _constants(account).values())
    fmt = "%s," + constant.replace("%", "%%") + ",%sZ,%sZ" + ",%.6f" * 6 + ",%s" * 5 + "\n"
    months = {m: ",".join(_month_bounds(m)) for m in np.unique(parts.month).tolist()}
    pool_kind = np.empty(len(parts.pool_kind_values), dtype=object)
    pool_kind[:] = [",".join(_escape(v) for v in vs) for vs in parts.pool_kind_values]
    accelerator = np.empty(len(usage.accelerator.values), dtype=object)
    accelerator[:] = ["," + _escape(v) for v in usage.accelerator.values]
    run_text, run_key = _run_texts(usage)
    has_sm = not np.isnan(parts.sm).all()
    for lo in range(0, len(lines), chunk_rows):
        hi = min(len(lines), lo + chunk_rows)
        src = lines.src[lo:hi]
        starts = np.datetime_as_string(np.floor(lines.start[lo:hi]).astype("datetime64[s]"))
        ends = np.datetime_as_string(np.floor(lines.end[lo:hi]).astype("datetime64[s]"))
        quantity = lines.quantity[lo:hi].tolist()
        head = pool_kind[parts.pool_kind[lo:hi]] + accelerator[usage.accelerator.codes[src]]
        if has_sm:
            sm = [("" if v != v else f"{v:.4f}") for v in parts.sm[lo:hi].tolist()]
        else:
            sm = [""] * (hi - lo)
        rows = zip(
            [months[m] for m in parts.month[lo:hi].tolist()],
            starts.tolist(),
            ends.tolist(),
            lines.billed_usd[lo:hi].tolist(),
            lines.effective_usd[lo:hi].tolist(),
            lines.list_usd[lo:hi].tolist(),
            lines.contracted_usd[lo:hi].tolist(),
            quantity,
            quantity,
            head.tolist(),
            run_text[run_key[src]].tolist(),
            usage.attempt[src].tolist(),
            ["%.6f" % g for g in lines.gpu_hours[lo:hi].tolist()],  # noqa: UP031 (speed)
            sm,
            strict=True,
        )
        yield "".join([fmt % row for row in rows])
    idle_rows = _idle_rows(idle, fleet, account)
    if idle_rows:
        out = []
        for row in idle_rows:
            full = {**_constants(account), **row}
            out.append(",".join(_csv_value(full.get(name)) for name in COLUMNS) + "\n")
        yield "".join(out)


def _run_texts(usage: UsageColumns) -> tuple[np.ndarray, np.ndarray]:
    """The _RUN columns as one CSV fragment per key, and each usage row's key.

    A run's team, project, workload, model and endpoint come from its one workload, so the key
    is the run and there are as many fragments as runs; should rows of one run disagree
    (intervals written by hand, say), the key is the usage row itself, slower but exact.
    """
    n_runs = len(usage.run_id.values)
    first = np.full(n_runs, -1, dtype=np.int64)
    present, first_row = np.unique(usage.run_id.codes, return_index=True)
    first[present] = first_row
    fields = (usage.team, usage.project, usage.workload, usage.model, usage.endpoint)
    by_run = all(bool(np.array_equal(f.codes, f.codes[first[usage.run_id.codes]])) for f in fields)
    rows = first if by_run else np.arange(len(usage), dtype=np.int64)
    texts = np.empty(len(rows), dtype=object)
    tag_fields = _tag_fields(usage)
    # Few distinct allocations (team, project, model, endpoint) among many runs: each
    # one's Tags is written and escaped once.
    tags: dict[tuple[int, ...], str] = {}
    for i, row in enumerate(rows.tolist()):
        if row < 0:
            texts[i] = ""
            continue
        team = _escape(usage.team.values[usage.team.codes[row]])
        combo = tuple(int(f.codes[row]) for f in tag_fields)
        tag = tags.get(combo)
        if tag is None:
            values = (f.values[c] for f, c in zip(tag_fields, combo, strict=True))
            tag = tags[combo] = _escape(tags_text(*values))
        parts = [team, tag, team] + [_escape(f.values[f.codes[row]]) for f in fields[1:]]
        parts.append(_escape(usage.run_id.values[usage.run_id.codes[row]]))
        texts[i] = ",".join(parts)
    key = usage.run_id.codes if by_run else np.arange(len(usage), dtype=np.int64)
    return texts, key


def _csv_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    return _escape(value)
