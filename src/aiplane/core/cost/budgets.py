"""Budgets that act: per team or project, per month or week, with rules.

A rule fires when the period's spend (or its forecast, for ``basis: forecast``) reaches ``at``
times the budget. An ``alert`` rule only notifies; the other kinds are the actions of
:class:`~aiplane.core.scheduling.snapshot.BudgetAction` and stay in force while the rule holds.
Every rule that fires also notifies, once per period (the service keeps that promise).

A team's ``budget_usd_per_month`` is a monthly budget with :data:`DEFAULT_RULES` (alerts only:
acting by default would surprise) unless the fleet declares a monthly budget for that team.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from aiplane.core.cost.periods import Period
from aiplane.core.scheduling.snapshot import BudgetAction

if TYPE_CHECKING:
    from aiplane.core.fleet import Fleet


class BudgetScope(StrEnum):
    TEAM = "team"
    PROJECT = "project"


class RuleKind(StrEnum):
    ALERT = "alert"
    BLOCK = "block"
    SPOT_OR_OWNED_ONLY = "spot_or_owned_only"
    LOWER_PRIORITY = "lower_priority"

    @property
    def action(self) -> BudgetAction | None:
        return None if self is RuleKind.ALERT else BudgetAction(self.value)


class Basis(StrEnum):
    SPENT = "spent"
    FORECAST = "forecast"


@dataclass(frozen=True)
class BudgetRule:
    kind: RuleKind
    at: float = 1.0  # share of the budget's amount
    basis: Basis = Basis.SPENT

    @property
    def key(self) -> str:
        """Stable identity within a budget: alerts are deduplicated per key and period."""
        return f"{self.kind}@{self.at:g}:{self.basis}"

    def describe(self) -> str:
        what = "alert" if self.kind is RuleKind.ALERT else self.kind.value.replace("_", " ")
        basis = "forecast" if self.basis is Basis.FORECAST else "spend"
        return f"{what} when {basis} reaches {self.at:.0%}"


DEFAULT_RULES = (
    BudgetRule(RuleKind.ALERT, 0.8),
    BudgetRule(RuleKind.ALERT, 1.0),
    BudgetRule(RuleKind.ALERT, 1.0, Basis.FORECAST),
)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str | None = None  # visible to anyone who can read the fleet; prefer secret_env
    secret_env: str | None = None  # the name of a server environment variable holding it


@dataclass(frozen=True)
class Budget:
    name: str
    scope: BudgetScope
    target: str  # the team's or the project's name
    amount_usd: float
    period: Period = Period.MONTHLY
    rules: tuple[BudgetRule, ...] = DEFAULT_RULES
    webhook: Webhook | None = None
    implicit: bool = False  # from a team's budget_usd_per_month

    @property
    def subject(self) -> str:
        """The key of its actions for the scheduler: a team's name, or ``project:<name>``."""
        return self.target if self.scope is BudgetScope.TEAM else f"project:{self.target}"


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
