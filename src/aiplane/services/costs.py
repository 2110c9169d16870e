"""Cost reports, FOCUS exports, anomalies and forecasts over the store's usage.

Every report meters usage afresh from the stored intervals plus the open intervals of runs
still holding capacity (computed up to ``now``), so a report is never stale and nothing has to
be kept in step with it. Usage is read from the start of the month that contains the report's
start, because earlier use in the month decides what a reserved commitment still covers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aiplane.core.cost.allocation import (
    IdleCost,
    PoolSpan,
    idle_by_team,
    idle_costs,
    in_force_throughout,
    share_idle,
)
from aiplane.core.cost.anomalies import Anomaly, contributors, detect
from aiplane.core.cost.attempts import attempt_interval
from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.focus import NUMERIC, Account, focus_columns, focus_csv
from aiplane.core.cost.metering import CostLines, commitments, meter
from aiplane.core.cost.periods import DAY_S, HOUR_S, WEEK_S, month_boundaries, month_start
from aiplane.core.cost.requests import (
    REQUEST_DIMENSIONS,
    RequestReport,
    requests_by,
    totals_by_endpoint,
)
from aiplane.core.cost.rollup import DIMENSIONS, rollup, with_requests
from aiplane.core.cost.spend import hourly_pieces, hourly_series
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.errors import Problem, SpecError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import RunState
from aiplane.exporters.base import ColumnType, Table
from aiplane.services.types import CostReport
from aiplane.store.base import Store

OPEN_STATES = (RunState.STARTING, RunState.RUNNING)
MAX_OPEN_RUNS = 100_000
ANOMALY_DIMENSIONS = ("team", "workload")


def open_intervals(store: Store, fleet: Fleet | None, now: float) -> list[UsageInterval]:
    """Usage of the attempts that still hold capacity, up to ``now``."""
    out = []
    for job, run in store.jobs.page(limit=MAX_OPEN_RUNS, states=OPEN_STATES):
        interval = attempt_interval(job, run, now, "running", fleet)
        if interval is not None:
            out.append(interval)
    return out


@dataclass(frozen=True)
class Metered:
    usage: UsageColumns
    lines: CostLines
    start: float
    end: float


def restrict(lines: CostLines, usage: UsageColumns, teams: Collection[str]) -> CostLines:
    """Only the lines of ``teams``' usage. Metering is done over everyone's usage first (a
    reserved commitment covers use in the order it came, whoever's), then narrowed: a team's
    lines cost what they cost in the full report."""
    codes = [usage.team.code_of(t) for t in teams]
    keep = np.flatnonzero(np.isin(usage.team.codes[lines.src], codes))
    return lines.take(keep)


def metered(
    store: Store,
    fleet: Fleet,
    start: float,
    end: float,
    now: float,
    teams: Collection[str] | None = None,
) -> Metered:
    """Cost lines for [start, end), with usage up to ``now``; of ``teams`` only when given
    (None: every team)."""
    end = min(end, now)
    if end <= start:
        end = start
    stored = store.usage.overlapping(month_start(start), end)
    live = [u for u in open_intervals(store, fleet, now) if u.start < end]
    usage = UsageColumns.from_intervals(stored + live)
    lines = meter(usage, start, end, commitments(fleet))
    if teams is not None:
        lines = restrict(lines, usage, teams)
    return Metered(usage, lines, start, end)


def spend_by_pool(store: Store, fleet: Fleet | None, now: float) -> dict[tuple[str, str], float]:
    """What all use so far has cost, by (site, pool key): every recorded interval plus the open
    attempts up to ``now``, metered as the cost reports meter them (the pool's pricing,
    reserved commitments, egress, each attempt of a run), in effective USD."""
    intervals = store.usage.overlapping(0.0, now) + open_intervals(store, fleet, now)
    if not intervals:
        return {}
    usage = UsageColumns.from_intervals(intervals)
    first = month_start(min(u.start for u in intervals))
    lines = meter(usage, first, now, commitments(fleet) if fleet is not None else None)
    pools = len(usage.pool.values)
    keys = usage.site.codes[lines.src] * pools + usage.pool.codes[lines.src]
    found, where = np.unique(keys, return_inverse=True)
    totals = np.bincount(where, weights=lines.effective_usd, minlength=len(found))
    return {
        (str(usage.site.values[k // pools]), str(usage.pool.values[k % pools])): float(usd)
        for k, usd in zip(found.tolist(), totals.tolist(), strict=True)
    }


def check_dimension(by: str, allowed: tuple[str, ...] | None = None) -> None:
    known = allowed or tuple(DIMENSIONS)
    if by not in known:
        raise SpecError(
            "unknown report dimension",
            [Problem("by", "not a dimension", repr(by), ", ".join(known))],
        )


# The longest periods a cost query reads (decision 0028): a report or export of a year and a
# bit (a year over year comparison), and anomalies over a quarter, whose hourly series and
# weeks of history before the period grow with it. A longer one is several queries.
MAX_PERIOD_DAYS = 400
MAX_ANOMALY_PERIOD_DAYS = 90


def check_period(start: float, end: float, max_days: int = MAX_PERIOD_DAYS) -> None:
    """[start, end) finite, not empty, and at most ``max_days`` long."""
    for location, value in (("from", start), ("to", end)):
        if not math.isfinite(value):
            raise SpecError(
                "bad period", [Problem(location, "not a finite time", repr(value), "epoch s")]
            )
    if end <= start:
        raise SpecError(
            "empty period",
            [Problem("to", "must be after from", repr(end), f"a time after {start}")],
        )
    if end - start > max_days * DAY_S:
        raise SpecError(
            "period too long",
            [
                Problem(
                    "from",
                    "the period from..to is too long",
                    f"{(end - start) / DAY_S:.1f} days",
                    f"a period of at most {max_days} days",
                )
            ],
        )


def report(
    store: Store,
    fleet: Fleet,
    by: str,
    start: float,
    end: float,
    now: float,
    *,
    share_idle_to_teams: bool = True,
    teams: Collection[str] | None = None,
    capacity: Sequence[PoolSpan] | None = None,
) -> CostReport:
    """Cost by ``by`` for [start, end); idle owned and reserved capacity on its own, and (by
    team) shared to the teams by their use of each pool.

    With ``teams`` (a caller who reads only those), only their usage is counted, whatever
    ``by`` groups on, with their shares of idle capacity; the pools' idle totals are left out,
    since capacity less one's own use would disclose the others'.

    ``capacity`` is when each pool existed (``pool_spans`` of the fleet history); without it,
    ``fleet`` is taken as in force throughout."""
    check_dimension(by)
    check_period(start, end)
    m = metered(store, fleet, start, end, now)
    spans = in_force_throughout(fleet) if capacity is None else capacity
    idle = idle_costs(m.lines, m.usage, spans, m.start, m.end) if m.end > m.start else []
    shares = share_idle(idle, m.lines, m.usage)
    lines = m.lines
    if teams is not None:
        lines = restrict(lines, m.usage, teams)
        narrowed = {
            pool: {t: v for t, v in per.items() if t in teams} for pool, per in shares.items()
        }
        shares = {pool: per for pool, per in narrowed.items() if per}
        idle = []
    per_team = idle_by_team(shares) if by == "team" and share_idle_to_teams else None
    rows = rollup(lines, m.usage, by, per_team)
    if by == "endpoint":
        # The requests the same teams' endpoints served: cost per 1,000 requests.
        counts = store.endpoints.counts(since=start, until=end, teams=teams)
        rows = with_requests(rows, totals_by_endpoint(counts))
    return CostReport(by, start, end, rows, idle, shares)


def requests(
    store: Store,
    by: str,
    start: float,
    end: float,
    *,
    endpoint: str | None = None,
    teams: Collection[str] | None = None,
) -> RequestReport:
    """Requests and tokens served in [start, end) (the hours that start in it), by endpoint,
    team (the endpoint's), principal or key; of ``endpoint`` only, and of ``teams``'
    endpoints only, when given."""
    check_dimension(by, REQUEST_DIMENSIONS)
    check_period(start, end)
    counts = store.endpoints.counts(since=start, until=end, endpoint=endpoint, teams=teams)
    return RequestReport(by, start, end, tuple(requests_by(counts, by)))


def _idle_by_month(m: Metered, spans: Sequence[PoolSpan]) -> list[tuple[float, float, IdleCost]]:
    """Idle cost per pool and billing month, for FOCUS rows that each lie in one month."""
    edges = [m.start, *month_boundaries(m.start, m.end).tolist(), m.end]
    out: list[tuple[float, float, IdleCost]] = []
    for a, b in itertools.pairwise(edges):
        inside = np.flatnonzero((m.lines.start >= a) & (m.lines.start < b))
        out.extend((a, b, item) for item in idle_costs(m.lines.take(inside), m.usage, spans, a, b))
    return out


def focus_chunks(
    store: Store,
    fleet: Fleet,
    start: float,
    end: float,
    now: float,
    *,
    sm_activity: Mapping[str, float] | None = None,
    account: Account | None = None,
    teams: Collection[str] | None = None,
    capacity: Sequence[PoolSpan] | None = None,
) -> Iterator[str]:
    """The FOCUS CSV for [start, end), in chunks of text (of ``teams``' usage only when
    given).

    The store is read and the usage metered here, when called: only the encoding is left to
    the iterator, so a failed read is an error before the first byte goes out, never a
    response cut short after its headers."""
    check_period(start, end)
    m = metered(store, fleet, start, end, now, teams)
    # The pools' idle capacity is the fleet's, not a team's: left out of a scoped export.
    spans = in_force_throughout(fleet) if capacity is None else capacity
    idle = _idle_by_month(m, spans) if m.end > m.start and teams is None else []
    return focus_csv(m.lines, m.usage, fleet, idle=idle, account=account, sm_activity=sm_activity)


def focus_table(
    store: Store,
    fleet: Fleet,
    start: float,
    end: float,
    now: float,
    *,
    sm_activity: Mapping[str, float] | None = None,
    account: Account | None = None,
    teams: Collection[str] | None = None,
    capacity: Sequence[PoolSpan] | None = None,
) -> Table:
    """The FOCUS rows for [start, end) as typed columns, for a file exporter to write."""
    check_period(start, end)
    m = metered(store, fleet, start, end, now, teams)
    # The pools' idle capacity is the fleet's, not a team's: left out of a scoped export.
    spans = in_force_throughout(fleet) if capacity is None else capacity
    idle = _idle_by_month(m, spans) if m.end > m.start and teams is None else []
    columns = focus_columns(
        m.lines, m.usage, fleet, idle=idle, account=account, sm_activity=sm_activity
    )
    return Table(columns, {name: _column_type(name) for name in columns})


def _column_type(name: str) -> ColumnType:
    if name == "x_attempt":
        return ColumnType.INT
    return ColumnType.FLOAT if name in NUMERIC else ColumnType.STRING


def anomalies(
    store: Store,
    fleet: Fleet,
    by: str,
    start: float,
    end: float,
    now: float,
    *,
    sm_activity: Mapping[str, float] | None = None,
    history_weeks: int = 4,
    k: float = 5.0,
    min_usd: float = 1.0,
    teams: Collection[str] | None = None,
) -> list[Anomaly]:
    """Anomalous hours of spend per ``by`` (team or workload) in [start, end), judged against
    ``history_weeks`` weeks before ``start``."""
    check_dimension(by, ANOMALY_DIMENSIONS)
    check_period(start, end, MAX_ANOMALY_PERIOD_DAYS)
    first = np.floor((start - history_weeks * WEEK_S) / HOUR_S) * HOUR_S
    m = metered(store, fleet, float(first), end, now, teams)
    hours = int(np.ceil((m.end - first) / HOUR_S))
    if hours <= 0:
        return []
    pieces = hourly_pieces(m.lines, float(first), hours)
    keys, matrix = hourly_series(pieces, m.lines, m.usage, "team" if by == "team" else "workload")
    category = m.usage.category(by)
    from_hour = int((start - first) // HOUR_S)
    found = []
    for row, key in enumerate(keys):
        for d in detect(matrix[row], k=k, min_usd=min_usd, from_hour=from_hour):
            code = category.code_of(key)
            mask = (
                (category.codes[m.lines.src[pieces.line]] == code)
                & (pieces.hour >= d.first_hour)
                & (pieces.hour <= d.last_hour)
            )
            found.append(
                Anomaly(
                    dimension=by,
                    key=key,
                    start=float(first + d.first_hour * HOUR_S),
                    end=float(first + (d.last_hour + 1) * HOUR_S),
                    spend_usd=d.spend_usd,
                    baseline_usd=d.baseline_usd,
                    score=d.peak_score,
                    contributors=tuple(
                        contributors(pieces, m.lines, m.usage, mask, sm_activity or {})
                    ),
                )
            )
    found.sort(key=lambda a: (-a.excess_usd, a.start))
    return found


def reserved_remaining(store: Store, fleet: Fleet, now: float) -> dict[str, float]:
    """GPU-hours left this month in each reserved pool's commitment (the snapshot's
    ``reserved_remaining_gpu_hours``)."""
    plans = commitments(fleet)
    if not plans:
        return {}
    start = month_start(now)
    m = metered(store, fleet, start, now, now)
    codes = m.usage.pool.codes[m.lines.src]
    out = {}
    for pool, plan in plans.items():
        used = float(m.lines.committed_gpu_hours[codes == m.usage.pool.code_of(pool)].sum())
        out[pool] = max(0.0, plan.gpu_hours_per_month - used)
    return out
