"""Costs: reports, FOCUS export, budgets, alerts, anomalies and forecasts (viewer role)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from aiplane.api.deps import CP, Viewer
from aiplane.core.cost.alerts import AlertStatus, alert_to_dict
from aiplane.core.cost.periods import iso, month_start
from aiplane.core.errors import Problem, SpecError
from aiplane.core.fleet import Fleet
from aiplane.services import budgets as budget_service
from aiplane.services import costs
from aiplane.wiring import ControlPlane

router = APIRouter(prefix="/costs", tags=["costs"])

From = Annotated[
    str | None,
    Query(alias="from", description="start: ISO date or time (UTC), or epoch seconds"),
]
To = Annotated[str | None, Query(alias="to", description="end (exclusive); default now")]


def parse_time(text: str, location: str) -> float:
    """``2025-06-01``, ``2025-06-01T12:00``, ``2025-06-01T12:00:00Z`` (UTC unless an offset
    is given) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(
            "bad time",
            [Problem(location, "not a time", repr(text), "YYYY-MM-DD[THH:MM[:SS]][Z], or epoch s")],
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def period(cp: ControlPlane, start: str | None, end: str | None) -> tuple[float, float, float]:
    """(start, end, now); by default this month so far."""
    now = cp.clock()
    s = parse_time(start, "from") if start else month_start(now)
    e = parse_time(end, "to") if end else now
    costs.check_period(s, e)
    return s, e, now


def fleet_of(cp: ControlPlane) -> Fleet:
    fleet = cp.fleet_cache.get(cp.store)
    if fleet is None:
        raise SpecError(
            "no fleet applied yet", [Problem("fleet", "none in force", None, "aiplane fleet apply")]
        )
    return fleet


def sm_activity(cp: ControlPlane) -> dict[str, float]:
    """Average SM activity (0..1) of the runs the telemetry recorder has seen."""
    usage = cp.telemetry.snapshot().usage
    return {r: u.avg_sm_active for r, u in usage.items() if u.avg_sm_active is not None}


def _money(x: float) -> float:
    return round(x, 6)


@router.get("/report")
def report(
    cp: CP,
    _: Viewer,
    by: str = "team",
    start: From = None,
    end: To = None,
    share_idle: bool = True,
) -> dict[str, Any]:
    s, e, now = period(cp, start, end)
    r = costs.report(cp.store, fleet_of(cp), by, s, e, now, share_idle_to_teams=share_idle)
    return {
        "by": r.by,
        "from": iso(s),
        "to": iso(e),
        "currency": "USD",
        "usage_usd": _money(r.usage_usd),
        "idle_usd": _money(r.idle_usd),
        "rows": [
            {
                "key": row.key,
                "usd": _money(row.usd),
                "billed_usd": _money(row.billed_usd),
                "list_usd": _money(row.list_usd),
                "compute_usd": _money(row.compute_usd),
                "egress_usd": _money(row.egress_usd),
                "gpu_hours": round(row.gpu_hours, 6),
                "runs": row.runs,
                "idle_share_usd": _money(row.idle_share_usd),
                "total_usd": _money(row.total_usd),
            }
            for row in r.rows
        ],
        "idle": [
            {
                "pool": i.pool,
                "pricing": i.pricing,
                "accelerator": i.accelerator,
                "capacity_gpu_hours": round(i.capacity_gpu_hours, 6),
                "used_gpu_hours": round(i.used_gpu_hours, 6),
                "idle_gpu_hours": round(i.idle_gpu_hours, 6),
                "capacity_usd": _money(i.capacity_usd),
                "used_usd": _money(i.used_usd),
                "idle_usd": _money(i.idle_usd),
                "shares": {k: _money(v) for k, v in r.idle_shares.get(i.pool, {}).items()},
            }
            for i in r.idle
        ],
    }


@router.get("/export")
def export(
    cp: CP,
    _: Viewer,
    start: From = None,
    end: To = None,
    format: Annotated[str, Query(description="focus (CSV) or focus-parquet")] = "focus",
) -> Response:
    s, e, now = period(cp, start, end)
    fleet = fleet_of(cp)
    activity = sm_activity(cp)
    if format == "focus":
        chunks: Iterator[str] = costs.focus_chunks(cp.store, fleet, s, e, now, sm_activity=activity)
        return StreamingResponse(
            (c.encode() for c in chunks),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="focus.csv"'},
        )
    if format == "focus-parquet":
        table = costs.focus_table(cp.store, fleet, s, e, now, sm_activity=activity)
        buffer = io.BytesIO()
        cp.parquet.write(table, buffer)
        return Response(buffer.getvalue(), media_type=cp.parquet.media_type)
    raise SpecError(
        "unknown export format",
        [Problem("format", "not a format", repr(format), "focus, focus-parquet")],
    )


def _forecast_dict(f: Any) -> dict[str, Any]:
    return {
        "period_start": iso(f.period_start),
        "period_end": iso(f.period_end),
        "spent_usd": _money(f.spent_usd),
        "known_usd": _money(f.known_usd),
        "history_usd": _money(f.history_usd),
        "expected_usd": _money(f.expected_usd),
        "low_usd": _money(f.low_usd),
        "high_usd": _money(f.high_usd),
        "daily_rate_usd": _money(f.daily_rate_usd),
        "history_days": f.history_days,
    }


@router.get("/budgets")
def budgets(cp: CP, _: Viewer) -> list[dict[str, Any]]:
    fleet = fleet_of(cp)
    out = []
    for view in budget_service.evaluate_budgets(cp.store, fleet, cp.clock()):
        st, b = view.status, view.status.budget
        out.append(
            {
                "name": b.name,
                "scope": str(b.scope),
                "target": b.target,
                "period": str(b.period),
                "amount_usd": b.amount_usd,
                "implicit": b.implicit,
                "spent_usd": _money(st.spent_usd),
                "share": round(st.share, 6),
                "remaining_usd": _money(st.remaining_usd),
                "forecast": _forecast_dict(view.forecast),
                "rules": [
                    {"kind": str(r.kind), "at": r.at, "basis": str(r.basis), "fired": r in st.fired}
                    for r in b.rules
                ],
                "actions": sorted(str(a) for a in st.actions),
                "webhook": b.webhook.url if b.webhook else None,
            }
        )
    return out


@router.get("/alerts")
def alerts(
    cp: CP,
    _: Viewer,
    status: Annotated[list[str] | None, Query(description="pending, delivered, ...")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    allowed = [str(s) for s in AlertStatus]
    bad = [s for s in status or [] if s not in allowed]
    if bad:
        raise SpecError(
            "invalid status filter",
            [Problem("status", "unknown status", ", ".join(bad), ", ".join(allowed))],
        )
    wanted = [AlertStatus(s) for s in status] if status else None
    return [alert_to_dict(a) for a in cp.store.alerts.recent(statuses=wanted, limit=limit)]


@router.get("/anomalies")
def anomalies(
    cp: CP,
    _: Viewer,
    by: str = "team",
    start: From = None,
    end: To = None,
    k: Annotated[float, Query(gt=0, description="threshold in robust deviations")] = 5.0,
    min_usd: Annotated[float, Query(ge=0)] = 1.0,
) -> list[dict[str, Any]]:
    now = cp.clock()
    s = parse_time(start, "from") if start else now - 7 * 86400.0
    e = parse_time(end, "to") if end else now
    found = costs.anomalies(
        cp.store, fleet_of(cp), by, s, e, now, sm_activity=sm_activity(cp), k=k, min_usd=min_usd
    )
    return [
        {
            "dimension": a.dimension,
            "key": a.key,
            "start": iso(a.start),
            "end": iso(a.end),
            "spend_usd": _money(a.spend_usd),
            "baseline_usd": _money(a.baseline_usd),
            "excess_usd": _money(a.excess_usd),
            "score": round(a.score, 3),
            "explanation": a.explain(),
            "runs": [
                {
                    "run_id": c.run_id,
                    "workload": c.workload,
                    "usd": _money(c.usd),
                    "hours": round(c.hours, 4),
                    "gpus": c.gpus,
                    "accelerator": c.accelerator,
                    "pool": c.pool,
                    "avg_sm_activity": c.sm_activity,
                    "explanation": c.describe(),
                }
                for c in a.contributors
            ],
        }
        for a in found
    ]


@router.get("/forecast")
def forecast(cp: CP, _: Viewer) -> list[dict[str, Any]]:
    found = budget_service.team_forecasts(cp.store, fleet_of(cp), cp.clock())
    return [{"team": team, **_forecast_dict(f)} for team, f in sorted(found.items())]
