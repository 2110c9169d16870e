"""Costs: reports, FOCUS export, budgets, alerts, anomalies and forecasts, each of the
teams the caller reads (all of them for operators and admins)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.views import (
    alert_out,
    anomaly_out,
    budget_out,
    forecast_out,
    report_out,
    requests_out,
)
from aiplane.core.cost.alerts import AlertStatus
from aiplane.core.errors import Problem, SpecError
from aiplane.services.types import ExportFormat
from aiplane.wire.costs import (
    AlertOut,
    AnomalyOut,
    BudgetOut,
    CostReport,
    RequestReport,
    TeamForecast,
)

router = APIRouter(prefix="/costs", tags=["costs"], responses=AUTHENTICATED)

From = Annotated[
    str | None,
    Query(alias="from", description="start: ISO date or time (UTC), or epoch seconds"),
]
To = Annotated[str | None, Query(alias="to", description="end (exclusive); default now")]


# The times a cost query may name: nothing was metered before 2000, and a date past ten years
# from now is a typo. Each bound also keeps the period's arithmetic in range (decision 0028).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
AHEAD_S = 10 * 365.25 * 24 * 3600
TIME_FORMS = "YYYY-MM-DD[THH:MM[:SS]][Z], or epoch s"


def parse_time(text: str | None, location: str) -> float | None:
    """``2025-06-01``, ``2025-06-01T12:00``, ``2025-06-01T12:00:00Z`` (UTC unless an offset
    is given) or epoch seconds; None when not given (the service's default). A time that is
    not finite, before 2000-01-01 or more than ten years ahead is refused."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = _iso_time(text, location)
    latest = time.time() + AHEAD_S
    if not math.isfinite(value) or not EARLIEST <= value <= latest:
        allowed = f"{TIME_FORMS}, from 2000-01-01 to {_iso(latest)}"
        raise SpecError("bad time", [Problem(location, "out of range", repr(text), allowed)])
    return value


def _iso_time(text: str, location: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        raise SpecError(
            "bad time", [Problem(location, "not a time", repr(text), TIME_FORMS)]
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):  # a date at the calendar's edge, with an offset
        return -math.inf


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def _format(value: str) -> ExportFormat:
    allowed = [str(f) for f in ExportFormat]
    if value not in allowed:
        raise SpecError(
            "unknown export format",
            [Problem("format", "not a format", repr(value), ", ".join(allowed))],
        )
    return ExportFormat(value)


@router.get("/report", response_model=CostReport, responses=responses(422))
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


@router.get("/requests", response_model=RequestReport, responses=responses(422))
def requests(
    svc: Svc,
    caller: Authenticated,
    by: Annotated[str, Query(description="endpoint, team, principal or key")] = "endpoint",
    start: From = None,
    end: To = None,
    endpoint: Annotated[str | None, Query(description="one endpoint only")] = None,
) -> RequestReport:
    """Requests and tokens the gateway served (hourly counters: the hours that start in the
    period), of the endpoints of the teams the caller reads."""
    r = svc.costs.requests(
        caller, by, parse_time(start, "from"), parse_time(end, "to"), endpoint=endpoint
    )
    return requests_out(r)


# A file, not JSON: the OpenAPI document says which media types and that they are bytes.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "FOCUS 1.2 cost lines: CSV, or Parquet with format=focus-parquet",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    # Parquet needs pyarrow (the parquet extra).
    **responses(422, 501),
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


@router.get("/alerts", response_model=list[AlertOut], responses=responses(422))
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


@router.get("/anomalies", response_model=list[AnomalyOut], responses=responses(422))
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
