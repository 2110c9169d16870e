"""Budget states, forecasts, the actions the scheduler honours, and alerts.

:func:`evaluate_budgets` meters the recent past once (from the earliest period start, or four
weeks back for history) and works out for every budget its spend, its forecast and the rules
that fire. :class:`BudgetCache` keeps the result for a few seconds: the scheduler asks on every
cycle and submissions on every request, while spend moves slowly.

Functions for the scheduling snapshot: :func:`budget_actions` and :func:`budget_remaining`
(keys: team names, and ``project:<name>`` for project budgets). For the endpoint reconciler:
:func:`endpoint_caps`, the replica cap of each endpoint while a budget acts on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import numpy as np

from aiplane.core.budgets import Budget, BudgetAction, BudgetScope, Period
from aiplane.core.cost.alerts import CostAlert, make_alert
from aiplane.core.cost.attempts import attempt_start
from aiplane.core.cost.budgets import (
    BudgetStatus,
    actions_by_subject,
    actions_for,
    effective_budgets,
    evaluate,
    remaining_by_subject,
    replica_cap,
)
from aiplane.core.cost.forecast import Forecast, KnownWork, forecast
from aiplane.core.cost.periods import DAY_S, HOUR_S, bounds
from aiplane.core.cost.spend import hourly_pieces
from aiplane.core.errors import BudgetExceededError, Problem
from aiplane.core.fleet import Fleet
from aiplane.core.placement import evaluate_offers
from aiplane.core.runs import ACTIVE, Job, Run, RunState
from aiplane.core.serving.caps import ReplicaCap
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.workloads import Workload
from aiplane.services.costs import Metered, metered
from aiplane.services.events import record
from aiplane.services.types import BudgetView
from aiplane.store.base import Store

log = logging.getLogger("aiplane.budgets")

HISTORY_DAYS = 28
# The label of an endpoint that names its project, for project budgets (as a workload's
# ``project`` does).
PROJECT_LABEL = "project"
MAX_KNOWN_JOBS = 10_000


@dataclass(frozen=True)
class _Subject:
    scope: BudgetScope
    target: str

    def matches(self, workload: Workload) -> bool:
        if self.scope is BudgetScope.TEAM:
            return workload.team == self.target
        return workload.project == self.target


def known_work(store: Store, fleet: Fleet, now: float) -> list[tuple[Workload, KnownWork]]:
    """Work queued or running with an estimate: its remaining hours at its placement's price,
    or, while queued, at its cheapest offer's."""
    out = []
    states = [RunState.PENDING, *ACTIVE]
    for job, run in store.jobs.page(limit=MAX_KNOWN_JOBS, states=states):
        item = _known(job, run, fleet, now)
        if item is not None:
            out.append((job.workload, item))
    return out


def _known(job: Job, run: Run, fleet: Fleet, now: float) -> KnownWork | None:
    hours = job.workload.estimated_hours
    if hours is None:
        return None  # no estimate: history speaks for it
    if run.placement is not None:
        elapsed = (now - attempt_start(run)) / HOUR_S if run.state in ACTIVE else 0.0
        left = max(0.0, hours - max(0.0, elapsed))
        return KnownWork(run.id, run.placement.usd_per_hour, left, running=True)
    offers, _ = evaluate_offers(job.workload, fleet)
    if not offers:
        return None
    rate = min(o.cost.usd_per_hour for o in offers)
    return KnownWork(run.id, rate, hours, running=False)


def _forecasts(
    store: Store,
    fleet: Fleet,
    now: float,
    subjects: Iterable[tuple[_Subject, Period]],
) -> dict[tuple[_Subject, Period], Forecast]:
    wanted = list(dict.fromkeys(subjects))
    if not wanted:
        return {}
    today = np.floor(now / DAY_S) * DAY_S
    starts = [bounds(period, now)[0] for _, period in wanted]
    first = float(min([*starts, today - HISTORY_DAYS * DAY_S]))
    m = metered(store, fleet, first, now, now)
    hours = int(np.ceil((m.end - first) / HOUR_S)) if m.end > first else 0
    pieces = hourly_pieces(m.lines, first, hours)
    work = known_work(store, fleet, now)
    out = {}
    for subject, period in wanted:
        start, end = bounds(period, now)
        usd = pieces.usd[_mask(m, pieces.line, subject)]
        hour = pieces.hour[_mask(m, pieces.line, subject)]
        spent = float(usd[hour >= (start - first) / HOUR_S].sum())
        days = int(HISTORY_DAYS)
        day_index = ((hour * HOUR_S + first - (today - days * DAY_S)) // DAY_S).astype(np.int64)
        inside = (day_index >= 0) & (day_index < days)
        daily = np.bincount(day_index[inside], usd[inside], minlength=days)
        # Only days since the subject's first spend count as history (a new team has none).
        seen = np.flatnonzero(daily > 0)
        history = daily[seen[0] :] if len(seen) else daily[:0]
        mine = [k for w, k in work if subject.matches(w)]
        out[(subject, period)] = forecast(
            period_start=start,
            period_end=end,
            now=now,
            spent_usd=spent,
            daily_history=history,
            known=mine,
        )
    return out


def _mask(m: Metered, line_index: np.ndarray, subject: _Subject) -> np.ndarray:
    category = m.usage.team if subject.scope is BudgetScope.TEAM else m.usage.project
    code = category.code_of(subject.target)
    result: np.ndarray = category.codes[m.lines.src[line_index]] == code
    return result


def team_forecasts(
    store: Store, fleet: Fleet, now: float, among: Collection[str] | None = None
) -> dict[str, Forecast]:
    """Month-end spend of every team (declared or with spend), with an interval; of the
    teams ``among`` only, when given."""
    teams = {t.name for t in fleet.teams}
    start, _ = bounds(Period.MONTHLY, now)
    teams |= {u.team for u in store.usage.overlapping(start, now)}
    if among is not None:
        teams &= set(among)
    subjects = [(_Subject(BudgetScope.TEAM, t), Period.MONTHLY) for t in sorted(teams)]
    found = _forecasts(store, fleet, now, subjects)
    return {s.target: f for (s, _), f in found.items()}


def evaluate_budgets(store: Store, fleet: Fleet, now: float) -> list[BudgetView]:
    budgets = effective_budgets(fleet)
    keys = [(_Subject(b.scope, b.target), b.period) for b in budgets]
    found = _forecasts(store, fleet, now, keys)
    views = []
    for budget, key in zip(budgets, keys, strict=True):
        f = found[key]
        status = evaluate(budget, f.period_start, f.period_end, f.spent_usd, f.expected_usd)
        views.append(BudgetView(status, f))
    return views


class BudgetCache:
    """Budget views, recomputed at most every ``ttl_s`` seconds (of ``clock``)."""

    def __init__(self, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._fleet: Fleet | None = None
        self._views: list[BudgetView] = []

    def invalidate(self) -> None:
        with self._lock:
            self._at = -float("inf")

    def views(self, store: Store, fleet: Fleet, now: float) -> list[BudgetView]:
        tick = self._clock()
        with self._lock:
            if self._fleet is fleet and tick - self._at < self._ttl_s:
                return self._views
        views = evaluate_budgets(store, fleet, now)
        with self._lock:
            self._at, self._fleet, self._views = tick, fleet, views
        return views


def _views(store: Store, fleet: Fleet, now: float, cache: BudgetCache | None) -> list[BudgetView]:
    if not effective_budgets(fleet):
        return []
    return cache.views(store, fleet, now) if cache else evaluate_budgets(store, fleet, now)


def budget_actions(
    store: Store, fleet: Fleet, now: float, cache: BudgetCache | None = None
) -> dict[str, frozenset[BudgetAction]]:
    """Actions in force, by team name and ``project:<name>``, for the scheduling snapshot."""
    return actions_by_subject(v.status for v in _views(store, fleet, now, cache))


def budget_remaining(
    store: Store, fleet: Fleet, now: float, cache: BudgetCache | None = None
) -> dict[str, float]:
    """Dollars left in each subject's tightest budget, for the scheduling snapshot."""
    return remaining_by_subject(v.status for v in _views(store, fleet, now, cache))


def endpoint_caps(
    store: Store,
    fleet: Callable[[], Fleet | None],
    clock: Callable[[], float],
    cache: BudgetCache | None = None,
) -> Callable[[Endpoint], ReplicaCap | None]:
    """The endpoint reconciler's ``caps``: for an endpoint, what the budgets in force for its
    team (and the project its ``project`` label names) ask of it, from the fleet in force
    (``fleet()``) at ``clock()``; None while none acts on it. Budgets are evaluated through
    ``cache``, as for the scheduler. A failure is logged and answers None: budgets must never
    stop an endpoint from serving."""

    def caps(endpoint: Endpoint) -> ReplicaCap | None:
        current = fleet()
        if current is None:
            return None
        try:
            views = _views(store, current, clock(), cache)
        except Exception:
            log.exception("budget evaluation failed; endpoint %s left uncapped", endpoint.name)
            return None
        project = endpoint.spec.labels.get(PROJECT_LABEL) or None
        return replica_cap((v.status for v in views), endpoint.team, project)

    return caps


def check_submission(
    store: Store, fleet: Fleet, workload: Workload, now: float, cache: BudgetCache | None = None
) -> None:
    """Raise BudgetExceededError when a budget of the workload's team or project blocks it."""
    views = _views(store, fleet, now, cache)
    actions = actions_by_subject(v.status for v in views)
    if BudgetAction.BLOCK not in actions_for(actions, workload.team, workload.project):
        return
    # Only the budgets that bind this workload: another team's are not the submitter's to see.
    blocking = [
        v.status
        for v in views
        if BudgetAction.BLOCK in v.status.actions
        and _Subject(v.status.budget.scope, v.status.budget.target).matches(workload)
    ]
    problems = [_blocking_problem(status) for status in blocking]
    names = ", ".join(status.budget.name for status in blocking)
    raise BudgetExceededError(
        f"budget {names} blocks new work of team {workload.team!r}"
        + (f" / project {workload.project!r}" if workload.project else ""),
        problems,
    )


def _blocking_problem(status: BudgetStatus) -> Problem:
    b: Budget = status.budget
    return Problem(
        str(b.scope),
        f"budget {b.name} is spent: new submissions are blocked until the period ends",
        f"${status.spent_usd:,.2f} of ${b.amount_usd:,.2f} ({b.period})",
        f"wait for the next period (from {status.period_end:.0f}) or raise the budget",
    )


def raise_alerts(
    store: Store, fleet: Fleet, now: float, cache: BudgetCache | None = None
) -> list[CostAlert]:
    """Store an alert for every rule that fires, once per rule and period; each new alert
    also goes to the event log. Returns the new alerts."""
    new = []
    for view in _views(store, fleet, now, cache):
        for rule in view.status.fired:
            alert = make_alert(view.status, rule, now)
            with store.unit_of_work() as uow:
                if uow.alerts.add(alert):
                    record(uow, now, "budget.alert", alert.message, data=dict(alert.payload))
                    new.append(alert)
    return new
