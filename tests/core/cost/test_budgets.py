"""Budget rules: what fires, what acts, and team budgets as implicit monthly budgets."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiplane.core.budgets import (
    Basis,
    Budget,
    BudgetAction,
    BudgetRule,
    BudgetScope,
    Period,
    RuleKind,
)
from aiplane.core.cost.budgets import (
    actions_by_subject,
    actions_for,
    effective_budgets,
    evaluate,
    remaining_by_subject,
    replica_cap,
)
from aiplane.core.cost.periods import bounds, month_start, week_start
from aiplane.core.fleet import Team
from tests import builders as b

from .factories import JULY, JUNE

RULES = (
    BudgetRule(RuleKind.ALERT, 0.5),
    BudgetRule(RuleKind.SPOT_OR_OWNED_ONLY, 0.9, Basis.FORECAST),
    BudgetRule(RuleKind.BLOCK, 1.0),
)


def test_rules_fire_on_spend_or_forecast() -> None:
    budget = Budget("b", BudgetScope.TEAM, "research", 1000.0, rules=RULES)
    quiet = evaluate(budget, JUNE, JULY, spent_usd=100.0, forecast_usd=500.0)
    assert quiet.fired == () and quiet.actions == frozenset() and quiet.remaining_usd == 900.0
    heading_over = evaluate(budget, JUNE, JULY, spent_usd=600.0, forecast_usd=950.0)
    assert heading_over.fired == RULES[:2]
    assert heading_over.actions == {BudgetAction.SPOT_OR_OWNED_ONLY}
    over = evaluate(budget, JUNE, JULY, spent_usd=1000.0, forecast_usd=1500.0)
    assert over.actions == {BudgetAction.SPOT_OR_OWNED_ONLY, BudgetAction.BLOCK}
    assert over.share == 1.0 and over.remaining_usd == 0.0


def test_actions_and_remaining_by_subject() -> None:
    team = evaluate(
        Budget("t", BudgetScope.TEAM, "research", 100.0, rules=RULES), JUNE, JULY, 100.0, 100.0
    )
    project = evaluate(
        Budget("p", BudgetScope.PROJECT, "llama", 50.0, rules=RULES[2:]), JUNE, JULY, 60.0, 60.0
    )
    actions = actions_by_subject([team, project])
    assert actions == {
        "research": {BudgetAction.SPOT_OR_OWNED_ONLY, BudgetAction.BLOCK},
        "project:llama": {BudgetAction.BLOCK},
    }
    assert actions_for(actions, "infra", "llama") == {BudgetAction.BLOCK}
    assert actions_for(actions, "infra", None) == frozenset()
    assert remaining_by_subject([team, project]) == {"research": 0.0, "project:llama": 0.0}


def test_team_budgets_become_monthly_budgets_unless_declared() -> None:
    teams = (
        Team("a", budget_usd_per_month=100.0),
        Team("b", budget_usd_per_month=200.0),
        Team("c"),
    )
    declared = Budget("b-month", BudgetScope.TEAM, "b", 150.0)
    fleet = replace(b.fleet(teams=teams), budgets=(declared,))
    found = effective_budgets(fleet)
    assert [(x.name, x.target, x.amount_usd, x.implicit) for x in found] == [
        ("b-month", "b", 150.0, False),
        ("a-monthly", "a", 100.0, True),
    ]
    assert all(r.kind is RuleKind.ALERT for r in found[1].rules)


def test_periods() -> None:
    assert month_start(JUNE + 5 * 86400) == JUNE
    assert bounds(Period.MONTHLY, JUNE + 1) == (JUNE, JULY)
    monday = JUNE + 86400  # 2025-06-02 was a Monday
    assert week_start(monday + 3 * 86400 + 5) == monday
    assert bounds(Period.WEEKLY, monday) == (monday, monday + 7 * 86400)


def test_the_replica_cap_of_the_rules_that_fire_for_a_team_or_its_project() -> None:
    rules = (
        BudgetRule(RuleKind.CAP_REPLICAS, 0.5, replicas=3),
        BudgetRule(RuleKind.CAP_REPLICAS, 1.0),  # N: one
        BudgetRule(RuleKind.PREFER_OWNED_EDGE, 0.8),
        BudgetRule(RuleKind.BLOCK, 0.9),
    )
    team = Budget("t", BudgetScope.TEAM, "research", 100.0, rules=rules)
    project = Budget("p", BudgetScope.PROJECT, "llama", 10.0, rules=rules[1:2])
    start, end = bounds(Period.MONTHLY, JUNE)

    def cap(spent: float, project_spent: float = 0.0, proj: str | None = "llama") -> Any:
        statuses = [
            evaluate(team, start, end, spent, spent),
            evaluate(project, start, end, project_spent, project_spent),
        ]
        return replica_cap(statuses, "research", proj)

    assert cap(40.0) is None
    half = cap(50.0)
    assert (half.max_replicas_per_site, half.prefer_site_kinds) == (3, ())
    assert half.reason == (
        "budget t: cap replicas at 3 per site when spend reaches 50% ($50.00 of $100.00 monthly)"
    )
    most = cap(95.0)
    assert (most.max_replicas_per_site, most.prefer_site_kinds) == (3, ("onprem", "edge"))
    assert "budget t: prefer on-premise and edge sites" in most.reason
    assert "block" not in most.reason  # the other actions are the scheduler's
    assert cap(100.0).max_replicas_per_site == 1
    assert cap(0.0, project_spent=10.0).max_replicas_per_site == 1  # the project's budget
    assert cap(0.0, project_spent=10.0, proj=None) is None
    assert replica_cap([evaluate(team, start, end, 100.0, 100.0)], "infra") is None
