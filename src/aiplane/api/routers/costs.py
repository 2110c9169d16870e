"""Costs: reports, FOCUS export, budgets, alerts, anomalies and forecasts (viewer role)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from aiplane.api.deps import CP, Viewer
from aiplane.api.views import alert_out, anomaly_out, budget_out, forecast_out, report_out
from aiplane.core.cost.alerts import AlertStatus
from aiplane.core.cost.periods import month_start
from aiplane.core.errors import Problem, SpecError
from aiplane.core.fleet import Fleet
from aiplane.services import budgets as budget_service
from aiplane.services import costs
from aiplane.wire.costs import AlertOut, AnomalyOut, BudgetOut, CostReport, TeamForecast
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


@router.get("/report", response_model=CostReport)
def report(
    cp: CP,
    _: Viewer,
    by: str = "team",
    start: From = None,
    end: To = None,
    share_idle: bool = True,
) -> CostReport:
    s, e, now = period(cp, start, end)
    r = costs.report(cp.store, fleet_of(cp), by, s, e, now, share_idle_to_teams=share_idle)
    return report_out(r)


# A file, not JSON: the OpenAPI document says which media types and that they are bytes.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "FOCUS 1.2 cost lines: CSV, or Parquet with format=focus-parquet",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("/export", response_class=Response, responses=EXPORT_RESPONSES)
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


@router.get("/budgets", response_model=list[BudgetOut])
def budgets(cp: CP, _: Viewer) -> list[BudgetOut]:
    fleet = fleet_of(cp)
    return [budget_out(v) for v in budget_service.evaluate_budgets(cp.store, fleet, cp.clock())]


@router.get("/alerts", response_model=list[AlertOut])
def alerts(
    cp: CP,
    _: Viewer,
    status: Annotated[list[str] | None, Query(description="pending, delivered, ...")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    allowed = [str(s) for s in AlertStatus]
    bad = [s for s in status or [] if s not in allowed]
    if bad:
        raise SpecError(
            "invalid status filter",
            [Problem("status", "unknown status", ", ".join(bad), ", ".join(allowed))],
        )
    wanted = [AlertStatus(s) for s in status] if status else None
    return [alert_out(a) for a in cp.store.alerts.recent(statuses=wanted, limit=limit)]


@router.get("/anomalies", response_model=list[AnomalyOut])
def anomalies(
    cp: CP,
    _: Viewer,
    by: str = "team",
    start: From = None,
    end: To = None,
    k: Annotated[float, Query(gt=0, description="threshold in robust deviations")] = 5.0,
    min_usd: Annotated[float, Query(ge=0)] = 1.0,
) -> list[AnomalyOut]:
    now = cp.clock()
    s = parse_time(start, "from") if start else now - 7 * 86400.0
    e = parse_time(end, "to") if end else now
    found = costs.anomalies(
        cp.store, fleet_of(cp), by, s, e, now, sm_activity=sm_activity(cp), k=k, min_usd=min_usd
    )
    return [anomaly_out(a) for a in found]


@router.get("/forecast", response_model=list[TeamForecast])
def forecast(cp: CP, _: Viewer) -> list[TeamForecast]:
    found = budget_service.team_forecasts(cp.store, fleet_of(cp), cp.clock())
    return [
        TeamForecast(team=team, **forecast_out(f).model_dump()) for team, f in sorted(found.items())
    ]
