"""Budgets that act: per team or project, per month or week, with rules.

The types (budgets, rules, actions) are in the leaf :mod:`aiplane.core.budgets`; this module
evaluates them against spend. Every rule that fires also notifies, once per period (the service
keeps that promise).

A team's ``budget_usd_per_month`` is a monthly budget with
:data:`~aiplane.core.budgets.DEFAULT_RULES` (alerts only:
acting by default would surprise) unless the fleet declares a monthly budget for that team.

:func:`replica_cap` turns the rules that act on endpoints (``cap_replicas``,
``prefer_owned_edge``) into what the endpoint reconciler obeys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiplane.core.budgets import (
    Basis,
    Budget,
    BudgetAction,
    BudgetRule,
    BudgetScope,
    Period,
    RuleKind,
)
from aiplane.core.fleet import Fleet, SiteKind
from aiplane.core.serving.caps import ReplicaCap


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: float
    period_end: float
    spent_usd: float
    forecast_usd: float
    fired: tuple[BudgetRule, ...]

    @property
    def share(self) -> float:
        return self.spent_usd / self.budget.amount_usd if self.budget.amount_usd else 0.0

    @property
    def remaining_usd(self) -> float:
        return max(0.0, self.budget.amount_usd - self.spent_usd)

    @property
    def actions(self) -> frozenset[BudgetAction]:
        return frozenset(a for r in self.fired if (a := r.kind.action) is not None)


def effective_budgets(fleet: Fleet) -> tuple[Budget, ...]:
    """The fleet's declared budgets plus one per team budget not already declared."""
    declared = tuple(fleet.budgets)
    covered = {
        b.target for b in declared if b.scope is BudgetScope.TEAM and b.period is Period.MONTHLY
    }
    implicit = tuple(
        Budget(
            name=f"{t.name}-monthly",
            scope=BudgetScope.TEAM,
            target=t.name,
            amount_usd=t.budget_usd_per_month,
            implicit=True,
        )
        for t in fleet.teams
        if t.budget_usd_per_month is not None and t.name not in covered
    )
    return declared + implicit


def evaluate(
    budget: Budget, start: float, end: float, spent_usd: float, forecast_usd: float
) -> BudgetStatus:
    fired = []
    for rule in budget.rules:
        value = forecast_usd if rule.basis is Basis.FORECAST else spent_usd
        if budget.amount_usd <= 0 or value >= rule.at * budget.amount_usd:
            fired.append(rule)
    return BudgetStatus(budget, start, end, spent_usd, forecast_usd, tuple(fired))


def actions_by_subject(statuses: Iterable[BudgetStatus]) -> dict[str, frozenset[BudgetAction]]:
    out: dict[str, frozenset[BudgetAction]] = {}
    for status in statuses:
        if status.actions:
            key = status.budget.subject
            out[key] = out.get(key, frozenset()) | status.actions
    return out


def remaining_by_subject(statuses: Iterable[BudgetStatus]) -> dict[str, float]:
    """The least remaining amount over each subject's budgets."""
    out: dict[str, float] = {}
    for status in statuses:
        key = status.budget.subject
        out[key] = min(out.get(key, float("inf")), status.remaining_usd)
    return out


def actions_for(
    actions: Mapping[str, frozenset[BudgetAction]], team: str, project: str | None
) -> frozenset[BudgetAction]:
    """What applies to a workload: its team's actions and its project's."""
    found = actions.get(team, frozenset())
    if project is not None:
        found |= actions.get(f"project:{project}", frozenset())
    return found


# The kinds of site a ``prefer_owned_edge`` action puts first: capacity already paid for.
OWNED_EDGE_KINDS = (str(SiteKind.ONPREM), str(SiteKind.EDGE))


def replica_cap(
    statuses: Iterable[BudgetStatus], team: str, project: str | None = None
) -> ReplicaCap | None:
    """What the budgets in force ask of an endpoint of ``team`` (and ``project``): the
    tightest ``cap_replicas`` that fires, and on-premise and edge sites first when a
    ``prefer_owned_edge`` fires; None when neither does. The reason names each budget and
    rule, with its spend."""
    subjects = {team} | ({f"project:{project}"} if project is not None else set())
    cap: int | None = None
    prefer = False
    reasons = []
    for status in statuses:
        if status.budget.subject not in subjects:
            continue
        for rule in status.fired:
            if rule.kind is RuleKind.CAP_REPLICAS:
                n = rule.max_replicas
                if n is not None:
                    cap = n if cap is None else min(cap, n)
            elif rule.kind is RuleKind.PREFER_OWNED_EDGE:
                prefer = True
            else:
                continue
            b = status.budget
            reasons.append(
                f"budget {b.name}: {rule.describe()} "
                f"(${status.spent_usd:,.2f} of ${b.amount_usd:,.2f} {b.period})"
            )
    if cap is None and not prefer:
        return None
    return ReplicaCap(
        reason="; ".join(reasons),
        max_replicas_per_site=cap,
        prefer_site_kinds=OWNED_EDGE_KINDS if prefer else (),
    )
