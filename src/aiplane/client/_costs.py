from __future__ import annotations

from pathlib import Path
from typing import Any

from aiplane.client._http import Http
from aiplane.wire.costs import (
    AlertOut,
    AnomalyOut,
    BudgetOut,
    CostReport,
    RequestReport,
    TeamForecast,
)


def _period(start: str | None, end: str | None) -> dict[str, Any]:
    # The API names them from/to; ``from`` is a keyword in Python.
    return {"from": start, "to": end}


class Costs:
    """``/costs``: reports, FOCUS export, budgets, alerts, anomalies, forecasts (viewer).

    Times are ``YYYY-MM-DD[THH:MM[:SS]][Z]`` (UTC unless an offset is given) or epoch seconds.
    """

    def __init__(self, http: Http) -> None:
        self._http = http

    def report(
        self,
        by: str = "team",
        start: str | None = None,
        end: str | None = None,
        share_idle: bool = True,
    ) -> CostReport:
        """Cost by team, project, workload, model, endpoint, site, pool, pricing or
        accelerator; by endpoint with requests, tokens and cost per 1,000 requests."""
        params = {"by": by, "share_idle": share_idle, **_period(start, end)}
        return self._http.call(CostReport, "GET", "/costs/report", params)

    def requests(
        self,
        by: str = "endpoint",
        start: str | None = None,
        end: str | None = None,
        endpoint: str | None = None,
    ) -> RequestReport:
        """Requests and tokens served, by endpoint, team, principal or key."""
        params = {"by": by, "endpoint": endpoint, **_period(start, end)}
        return self._http.call(RequestReport, "GET", "/costs/requests", params)

    def export(
        self,
        out: Path,
        format: str = "focus",  # noqa: A002 (the API's query parameter; callers pass it by name)
        start: str | None = None,
        end: str | None = None,
    ) -> int:
        """Write FOCUS 1.2 cost lines to ``out`` (``focus``: CSV, ``focus-parquet``);
        returns the bytes written."""
        params = {"format": format, **_period(start, end)}
        return self._http.download("/costs/export", out, params)

    def budgets(self) -> list[BudgetOut]:
        return self._http.call_list(BudgetOut, "GET", "/costs/budgets")

    def alerts(self, status: list[str] | None = None, limit: int | None = None) -> list[AlertOut]:
        params = {"status": status, "limit": limit}
        return self._http.call_list(AlertOut, "GET", "/costs/alerts", params)

    def anomalies(
        self,
        by: str = "team",
        start: str | None = None,
        end: str | None = None,
        k: float | None = None,
        min_usd: float | None = None,
    ) -> list[AnomalyOut]:
        params = {"by": by, "k": k, "min_usd": min_usd, **_period(start, end)}
        return self._http.call_list(AnomalyOut, "GET", "/costs/anomalies", params)

    def forecast(self) -> list[TeamForecast]:
        """Month-end spend per team, with an 80% interval."""
        return self._http.call_list(TeamForecast, "GET", "/costs/forecast")
