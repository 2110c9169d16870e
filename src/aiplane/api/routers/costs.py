"""Costs: reports, FOCUS export, budgets, alerts, anomalies and forecasts, each of the
teams the caller reads (all of them for operators and admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED
from aiplane.api.views import alert_out, anomaly_out, budget_out, forecast_out, report_out
from aiplane.core.cost.alerts import AlertStatus
from aiplane.core.errors import Problem, SpecError
from aiplane.services.types import ExportFormat
from aiplane.wire.costs import AlertOut, AnomalyOut, BudgetOut, CostReport, TeamForecast

router = APIRouter(prefix="/costs", tags=["costs"], responses=AUTHENTICATED)

From = Annotated[
    str | None,
    Query(alias="from", description="start: ISO date or time (UTC), or epoch seconds"),
]
To = Annotated[str | None, Query(alias="to", description="end (exclusive); default now")]


def parse_time(text: str | None, location: str) -> float | None:
    """``2025-06-01``, ``2025-06-01T12:00``, ``2025-06-01T12:00:00Z`` (UTC unless an offset
    is given) or epoch seconds; None when not given (the service's default)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        raise SpecError(
            "bad time",
            [Problem(location, "not a time", repr(text), "YYYY-MM-DD[THH:MM[:SS]][Z], or epoch s")],
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _format(value: str) -> ExportFormat:
    allowed = [str(f) for f in ExportFormat]
    if value not in allowed:
        raise SpecError(
            "unknown export format",
            [Problem("format", "not a format", repr(value), ", ".join(allowed))],
        )
    return ExportFormat(value)


@router.get("/report", response_model=CostReport)
def report(
    svc: Svc,
    caller: Authenticated,
    by: str = "team",
    start: From = None,
    end: To = None,
    share_idle: bool = True,
) -> CostReport:
    r = svc.costs.report(
        caller, by, parse_time(start, "from"), parse_time(end, "to"), share_idle=share_idle
    )
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


@router.get("/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
def export(
    svc: Svc,
    caller: Authenticated,
    start: From = None,
    end: To = None,
    export_format: Annotated[
        str, Query(alias="format", description="focus (CSV) or focus-parquet")
    ] = "focus",
) -> StreamingResponse:
    out = svc.costs.export(
        caller, _format(export_format), parse_time(start, "from"), parse_time(end, "to")
    )
    return StreamingResponse(
        out.chunks,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )


@router.get("/budgets", response_model=list[BudgetOut])
def budgets(svc: Svc, caller: Authenticated) -> list[BudgetOut]:
    return [budget_out(v) for v in svc.costs.budgets(caller)]


@router.get("/alerts", response_model=list[AlertOut])
def alerts(
    svc: Svc,
    caller: Authenticated,
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
    return [alert_out(a) for a in svc.costs.alerts(caller, wanted, limit)]


@router.get("/anomalies", response_model=list[AnomalyOut])
def anomalies(
    svc: Svc,
    caller: Authenticated,
    by: str = "team",
    start: From = None,
    end: To = None,
    k: Annotated[float, Query(gt=0, description="threshold in robust deviations")] = 5.0,
    min_usd: Annotated[float, Query(ge=0)] = 1.0,
) -> list[AnomalyOut]:
    found = svc.costs.anomalies(
        caller, by, parse_time(start, "from"), parse_time(end, "to"), k=k, min_usd=min_usd
    )
    return [anomaly_out(a) for a in found]


@router.get("/forecast", response_model=list[TeamForecast])
def forecast(svc: Svc, caller: Authenticated) -> list[TeamForecast]:
    return [
        TeamForecast(team=team, **forecast_out(f).model_dump())
        for team, f in sorted(svc.costs.forecast(caller).items())
    ]
