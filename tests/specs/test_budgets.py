"""Budgets and reserved commitments in fleet.yaml: conversion, round trip, located problems."""

from __future__ import annotations

from typing import Any

from aiplane.core.budgets import (
    DEFAULT_RULES,
    Basis,
    BudgetAction,
    BudgetScope,
    Period,
    RuleKind,
    Webhook,
)
from aiplane.core.errors import Problem
from aiplane.core.fleet import PricingModel
from aiplane.specs import fleet_from_document, fleet_to_document

from .conftest import problems_of


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sites": [
            {
                "name": "fra",
                "kind": "onprem",
                "region": "eu-central",
                "jurisdiction": "EU",
                "pools": [
                    {
                        "name": "h100",
                        "backend": "emulated",
                        "nodes": 2,
                        "node": {"accelerator": "H100", "gpus": 8, "cpus": 96, "memory_gib": 1024},
                        "pricing": {
                            "model": "reserved",
                            "usd_per_gpu_hour": 4.0,
                            "reserved_gpu_hours_per_month": 5000,
                            "reserved_usd_per_gpu_hour": 2.1,
                        },
                    }
                ],
            }
        ],
        "teams": [{"name": "research", "budget_usd_per_month": 1000}, {"name": "infra"}],
        "budgets": [
            {
                "name": "research-weekly",
                "team": "research",
                "period": "weekly",
                "amount_usd": 300,
                "rules": [
                    {"kind": "alert", "at": 0.8},
                    {"kind": "alert", "basis": "forecast"},
                    {"kind": "spot_or_owned_only", "at": 0.9},
                    {"kind": "block"},
                ],
                "webhook": {"url": "https://hooks.example/budget", "secret_env": "HOOK_SECRET"},
            },
            {"name": "llama", "project": "llama", "amount_usd": 5000},
        ],
    }
    doc.update(changes)
    return doc


def test_budgets_and_commitments_convert_and_round_trip() -> None:
    fleet = fleet_from_document(document(), "fleet.yaml")

    weekly, llama = fleet.budgets
    assert weekly.scope is BudgetScope.TEAM and weekly.target == "research"
    assert weekly.period is Period.WEEKLY and weekly.amount_usd == 300
    assert [(r.kind, r.at, r.basis) for r in weekly.rules] == [
        (RuleKind.ALERT, 0.8, Basis.SPENT),
        (RuleKind.ALERT, 1.0, Basis.FORECAST),
        (RuleKind.SPOT_OR_OWNED_ONLY, 0.9, Basis.SPENT),
        (RuleKind.BLOCK, 1.0, Basis.SPENT),
    ]
    assert weekly.webhook == Webhook("https://hooks.example/budget", None, "HOOK_SECRET")
    assert llama.scope is BudgetScope.PROJECT and llama.subject == "project:llama"
    assert llama.rules == DEFAULT_RULES and llama.period is Period.MONTHLY
    pricing = fleet.sites[0].pools[0].pricing
    assert pricing.model is PricingModel.RESERVED
    assert (pricing.reserved_gpu_hours_per_month, pricing.reserved_usd_per_gpu_hour) == (5000, 2.1)

    assert fleet_from_document(fleet_to_document(fleet), "stored") == fleet


def test_a_fleet_without_budgets_exports_no_budget_section() -> None:
    fleet = fleet_from_document(document(budgets=[]), "fleet.yaml")
    assert "budgets" not in fleet_to_document(fleet)


def _budget(**fields: Any) -> dict[str, Any]:
    return document(budgets=[{"name": "b", "amount_usd": 10, **fields}])


def test_a_budget_names_exactly_one_of_team_or_project() -> None:
    problems = problems_of(lambda: fleet_from_document(_budget(), "fleet.yaml"))
    assert problems == [
        Problem(
            "fleet.yaml: budgets[0]",
            "give exactly one of team or project",
            "{'team': None, 'project': None}",
            "team: <a team> or project: <a project>",
        )
    ]
    both = _budget(team="research", project="x")
    assert problems_of(lambda: fleet_from_document(both, "fleet.yaml"))[0].message == (
        "give exactly one of team or project"
    )


def test_an_unknown_team_is_named_with_a_suggestion() -> None:
    problems = problems_of(lambda: fleet_from_document(_budget(team="reserch"), "fleet.yaml"))
    assert problems == [
        Problem(
            "fleet.yaml: budgets[0].team",
            "unknown team; did you mean 'research'?",
            "'reserch'",
            "research, infra",
        )
    ]


def test_bad_rules_and_webhooks_are_located() -> None:
    bad = _budget(
        team="research",
        rules=[{"kind": "shout"}, {"kind": "block", "at": 0}],
        webhook={"url": "ftp://x", "secret": "s"},
    )
    found = {(p.location, p.message) for p in problems_of(lambda: fleet_from_document(bad, "f"))}
    assert found == {
        ("f: budgets[0].rules[0].kind", "not one of the allowed values"),
        ("f: budgets[0].rules[1].at", "must be greater than 0"),
        ("f: budgets[0].webhook.url", "not in the allowed form"),
    }


def test_a_commitment_needs_reserved_pricing() -> None:
    doc = document()
    doc["sites"][0]["pools"][0]["pricing"]["model"] = "owned"
    problems = problems_of(lambda: fleet_from_document(doc, "fleet.yaml"))
    assert problems == [
        Problem(
            "fleet.yaml: sites[0].pools[0].pricing.reserved_gpu_hours_per_month",
            "only reserved pricing has a commitment",
            "'owned'",
            "model: reserved, or leave the commitment out",
        )
    ]


def test_project_and_labels_on_a_workload() -> None:
    from aiplane.specs import workload_from_document

    w = workload_from_document(
        {
            "name": "ft",
            "team": "research",
            "kind": "finetune",
            "run": "true",
            "project": "llama",
            "labels": {"model": "llama-3-8b"},
        },
        "w.yaml",
    )
    assert w.project == "llama" and dict(w.labels) == {"model": "llama-3-8b"}


def test_rules_that_act_on_endpoints_convert_and_round_trip() -> None:
    rules = [
        {"kind": "cap_replicas", "at": 0.8, "replicas": 3},
        {"kind": "cap_replicas"},
        {"kind": "prefer_owned_edge", "at": 0.5, "basis": "forecast"},
    ]
    fleet = fleet_from_document(_budget(team="research", rules=rules), "fleet.yaml")
    (budget,) = fleet.budgets
    assert [(r.kind, r.at, r.basis, r.replicas, r.max_replicas) for r in budget.rules] == [
        (RuleKind.CAP_REPLICAS, 0.8, Basis.SPENT, 3, 3),
        (RuleKind.CAP_REPLICAS, 1.0, Basis.SPENT, None, 1),  # N defaults to one
        (RuleKind.PREFER_OWNED_EDGE, 0.5, Basis.FORECAST, None, None),
    ]
    assert [r.kind.action for r in budget.rules] == [
        BudgetAction.CAP_REPLICAS,
        BudgetAction.CAP_REPLICAS,
        BudgetAction.PREFER_OWNED_EDGE,
    ]
    assert budget.rules[0].describe() == "cap replicas at 3 per site when spend reaches 80%"
    assert fleet_from_document(fleet_to_document(fleet), "stored") == fleet


def test_malformed_endpoint_rules_are_refused_by_field() -> None:
    bad = _budget(
        team="research",
        rules=[
            {"kind": "cap_replicas", "replicas": 0},
            {"kind": "cap_replicas", "replicas": "two"},
            {"kind": "prefer_owned_edge", "replicas": 2},
            {"kind": "block", "replicas": 1},
            {"kind": "cap_replica"},
        ],
    )
    problems = problems_of(lambda: fleet_from_document(bad, "f"))
    found = {(p.location, p.message) for p in problems}
    assert found == {
        ("f: budgets[0].rules[0].replicas", "must be greater than or equal to 1"),
        ("f: budgets[0].rules[1].replicas", "expected a whole number"),
        ("f: budgets[0].rules[4].kind", "not one of the allowed values"),
    }
    (kind,) = [p for p in problems if p.location.endswith("rules[4].kind")]
    allowed = str(kind.allowed)
    assert "cap_replicas" in allowed and "prefer_owned_edge" in allowed
    # The cross-field check runs once the fields themselves are well formed.
    misplaced = _budget(
        team="research",
        rules=[{"kind": "prefer_owned_edge", "replicas": 2}, {"kind": "block", "replicas": 1}],
    )
    assert problems_of(lambda: fleet_from_document(misplaced, "f")) == [
        Problem(
            "f: budgets[0].rules[0].replicas",
            "replicas applies to cap_replicas rules only, not prefer_owned_edge",
            "2",
            "no replicas, or kind: cap_replicas",
        ),
        Problem(
            "f: budgets[0].rules[1].replicas",
            "replicas applies to cap_replicas rules only, not block",
            "1",
            "no replicas, or kind: cap_replicas",
        ),
    ]


def test_two_caps_at_the_same_share_are_one_rule_listed_twice() -> None:
    twice = _budget(
        team="research",
        rules=[{"kind": "cap_replicas", "replicas": 2}, {"kind": "cap_replicas", "replicas": 1}],
    )
    (problem,) = problems_of(lambda: fleet_from_document(twice, "f"))
    assert (problem.location, problem.message) == ("f: budgets[0].rules[1]", "rule listed twice")
