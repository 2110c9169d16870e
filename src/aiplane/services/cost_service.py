"""Costs: reports, FOCUS exports, budgets, alerts, anomalies, forecasts, and what the cost
engine adds to each scheduling snapshot.

Every method takes its period as epoch seconds, ``None`` for the default (this month so far;
for anomalies the last week), and reads the fleet in force: the edges parse, this decides.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Collection, Mapping

from aiplane.core.auth import Action, Caller
from aiplane.core.budgets import BudgetScope
from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.cost.allocation import PoolSpan, pool_spans
from aiplane.core.cost.anomalies import Anomaly
from aiplane.core.cost.forecast import Forecast
from aiplane.core.cost.periods import WEEK_S, month_start
from aiplane.core.cost.requests import RequestReport
from aiplane.exporters.base import Exporter
from aiplane.services import budgets, costs
from aiplane.services.access import Access
from aiplane.services.budgets import BudgetCache
from aiplane.services.fleet import FleetCache
from aiplane.services.scheduling import CycleInputs
from aiplane.services.scope import readable_teams
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.services.types import BudgetView, CostReport, Export, ExportFormat
from aiplane.store.base import Store

log = logging.getLogger("aiplane.costs")
# Alerts read to find a scoped caller's newest (alerts are few: one per rule and period).
MAX_ALERTS_SCANNED = 10_000


def _team_subject(scope: str, target: str, teams: frozenset[str] | None) -> bool:
    """Whether a budget (or its alert) of ``scope``/``target`` is readable with ``teams``.
    A project may span teams: its spend is the others' too, so only those who read every team
    see a project's budget."""
    if teams is None:
        return True
    return scope == BudgetScope.TEAM and target in teams


class CostService:
    """Costs as the caller may read them: every answer counts only the usage of the teams
    the caller reads (all of them for operators and admins), whatever it is grouped by."""

    def __init__(
        self,
        store: Store,
        fleets: FleetCache,
        budget_cache: BudgetCache,
        telemetry: TelemetryRecorder,
        parquet: Exporter,
        clock: Callable[[], float],
        *,
        access: Access,
    ) -> None:
        self._access = access
        self._store = store
        self._fleets = fleets
        self._budgets = budget_cache
        self._telemetry = telemetry
        self._parquet = parquet
        self._clock = clock

    def _period(self, start: float | None, end: float | None) -> tuple[float, float, float]:
        now = self._clock()
        s = start if start is not None else month_start(now)
        e = end if end is not None else now
        costs.check_period(s, e)
        return s, e, now

    def _capacity(self, end: float) -> list[PoolSpan]:
        """When each pool existed up to ``end``, from the fleet versions applied: idle
        capacity is counted only then (decision 0030)."""
        return pool_spans(self._fleets.history(end))

    def _sm_activity(self) -> dict[str, float]:
        """Average SM activity (0..1) of the runs the telemetry recorder has seen."""
        usage = self._telemetry.snapshot().usage
        return {r: u.avg_sm_active for r, u in usage.items() if u.avg_sm_active is not None}

    def _teams(self, caller: Caller, action: Action = Action.COST_READ) -> frozenset[str] | None:
        return readable_teams(self._access, caller, action)

    def report(
        self,
        caller: Caller,
        by: str = "team",
        start: float | None = None,
        end: float | None = None,
        *,
        share_idle: bool = True,
    ) -> CostReport:
        teams = self._teams(caller)
        s, e, now = self._period(start, end)
        fleet = self._fleets.required()
        return costs.report(
            self._store,
            fleet,
            by,
            s,
            e,
            now,
            share_idle_to_teams=share_idle,
            teams=teams,
            capacity=self._capacity(e),
        )

    def requests(
        self,
        caller: Caller,
        by: str = "endpoint",
        start: float | None = None,
        end: float | None = None,
        *,
        endpoint: str | None = None,
    ) -> RequestReport:
        """Requests and tokens the gateway served, by endpoint, team, principal or key: of the
        endpoints of the teams the caller reads."""
        teams = self._teams(caller)
        s, e, _ = self._period(start, end)
        return costs.requests(self._store, by, s, e, endpoint=endpoint, teams=teams)

    def export(
        self,
        caller: Caller,
        export_format: ExportFormat = ExportFormat.FOCUS_CSV,
        start: float | None = None,
        end: float | None = None,
    ) -> Export:
        """FOCUS 1.2 cost lines for the period: CSV streamed in chunks, or a Parquet file."""
        teams = self._teams(caller)
        s, e, now = self._period(start, end)
        fleet = self._fleets.required()
        activity = self._sm_activity()
        if export_format is ExportFormat.FOCUS_CSV:
            text = costs.focus_chunks(
                self._store,
                fleet,
                s,
                e,
                now,
                sm_activity=activity,
                teams=teams,
                capacity=self._capacity(e),
            )
            return Export("text/csv; charset=utf-8", "focus.csv", (c.encode() for c in text))
        table = costs.focus_table(
            self._store,
            fleet,
            s,
            e,
            now,
            sm_activity=activity,
            teams=teams,
            capacity=self._capacity(e),
        )
        buffer = io.BytesIO()
        self._parquet.write(table, buffer)
        return Export(self._parquet.media_type, "focus.parquet", iter([buffer.getvalue()]))

    def budgets(self, caller: Caller) -> list[BudgetView]:
        teams = self._teams(caller, Action.BUDGET_READ)
        views = budgets.evaluate_budgets(self._store, self._fleets.required(), self._clock())
        return [
            v for v in views if _team_subject(v.status.budget.scope, v.status.budget.target, teams)
        ]

    def alerts(
        self,
        caller: Caller,
        statuses: Collection[AlertStatus] | None = None,
        limit: int = 100,
    ) -> list[CostAlert]:
        """The newest alerts of the budgets the caller reads, oldest first."""
        teams = self._teams(caller, Action.BUDGET_READ)
        if teams is None:
            return self._store.alerts.recent(statuses=statuses, limit=limit)
        found = self._store.alerts.recent(statuses=statuses, limit=MAX_ALERTS_SCANNED)
        mine = [
            a
            for a in found
            if _team_subject(str(a.payload.get("scope")), str(a.payload.get("target")), teams)
        ]
        return mine[-limit:]

    def anomalies(
        self,
        caller: Caller,
        by: str = "team",
        start: float | None = None,
        end: float | None = None,
        *,
        k: float = 5.0,
        min_usd: float = 1.0,
    ) -> list[Anomaly]:
        teams = self._teams(caller)
        now = self._clock()
        s = start if start is not None else now - WEEK_S
        e = end if end is not None else now
        return costs.anomalies(
            self._store,
            self._fleets.required(),
            by,
            s,
            e,
            now,
            sm_activity=self._sm_activity(),
            k=k,
            min_usd=min_usd,
            teams=teams,
        )

    def forecast(self, caller: Caller) -> Mapping[str, Forecast]:
        """Month-end spend of every team the caller reads, by team name."""
        teams = self._teams(caller)
        return budgets.team_forecasts(
            self._store, self._fleets.required(), self._clock(), among=teams
        )

    def cycle_inputs(self) -> CycleInputs:
        """What the cost engine adds to each scheduling snapshot: budget actions and headroom.
        A failure here is logged and ignored: budgets must never stop the scheduler."""
        fleet = self._fleets.current()
        if fleet is None:
            return CycleInputs()
        now = self._clock()
        try:
            return CycleInputs(
                budget_actions=budgets.budget_actions(self._store, fleet, now, self._budgets),
                budget_remaining_usd=budgets.budget_remaining(
                    self._store, fleet, now, self._budgets
                ),
                reserved_remaining_gpu_hours=costs.reserved_remaining(self._store, fleet, now),
            )
        except Exception:
            log.exception("budget evaluation failed; scheduling without budget actions")
            return CycleInputs()
