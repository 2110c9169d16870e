"""Promotion policy documents: conversion, defaults, round trip, located problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.registry.policy import (
    AliasRules,
    Comparison,
    EvaluationRule,
    PromotionPolicy,
    Requirement,
    default_policy,
)
from aiplane.specs.loader import parse_yaml
from aiplane.specs.registry_policy import load_policy, policy_from_document, policy_to_document

from .conftest import problems_of

DOCUMENT = """\
aliases:
  production:
    protected: true
    approvals: 2
    signature: required
    lineage: required
    jurisdictions: [EU]
    evaluations:
      - {metric: auc, min: 0.90}
      - {metric: auc, min_delta: 0.0}
      - {metric: latency_p95_ms, max: 50}
      - {metric: latency_p95_ms, max_increase: 0.10}
  staging: {approvals: 0}
"""


def test_the_documented_example_reads_into_core_rules(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(DOCUMENT)
    policy = load_policy(path)
    assert policy.rules_for("production") == AliasRules(
        protected=True,
        approvals=2,
        signature=Requirement.REQUIRED,
        lineage=Requirement.REQUIRED,
        jurisdictions=("EU",),
        evaluations=(
            EvaluationRule("auc", Comparison.MIN, 0.90),
            EvaluationRule("auc", Comparison.MIN_DELTA, 0.0),
            EvaluationRule("latency_p95_ms", Comparison.MAX, 50.0),
            EvaluationRule("latency_p95_ms", Comparison.MAX_INCREASE, 0.10),
        ),
    )
    # staging: written with approvals only, the rest defaults, unprotected (not production).
    assert policy.rules_for("staging") == AliasRules(protected=False)
    assert policy.is_protected("production")
    assert not policy.is_protected("staging")


def test_an_alias_with_no_entry_has_no_rules() -> None:
    policy = policy_from_document({"aliases": {"staging": {}}})
    assert policy.rules_for("canary") is None
    assert not policy.is_protected("canary")
    assert policy_from_document({"aliases": {}}) == PromotionPolicy({})


@pytest.mark.parametrize(
    ("entry", "protected"),
    [
        ({}, True),  # production is protected unless it says otherwise
        ({"protected": False}, False),
    ],
)
def test_production_is_protected_by_default(entry: dict[str, Any], protected: bool) -> None:
    policy = policy_from_document({"aliases": {"production": entry}})
    assert policy.is_protected("production") is protected


def test_a_custom_alias_can_be_protected() -> None:
    policy = policy_from_document({"aliases": {"gold": {"protected": True}}})
    assert policy.is_protected("gold")


def test_default_policy() -> None:
    policy = default_policy()
    rules = policy.rules_for("production")
    assert rules == AliasRules(
        protected=True, approvals=1, signature=Requirement.REQUIRED, lineage=Requirement.OPTIONAL
    )
    assert policy.rules_for("staging") is None


def test_round_trip() -> None:
    policy = policy_from_document(_yaml(DOCUMENT))
    assert policy_from_document(policy_to_document(policy)) == policy
    assert policy_from_document(policy_to_document(default_policy())) == default_policy()


def _yaml(text: str) -> dict[str, Any]:
    return parse_yaml(text, "policy.yaml")


@pytest.mark.parametrize(
    ("document", "location", "message"),
    [
        (
            {"aliases": {"production": {"aprovals": 2}}},
            "policy.yaml: aliases.production.aprovals",
            "unknown field; did you mean 'approvals'?",
        ),
        ({"alias": {}}, "policy.yaml: alias", "unknown field; did you mean 'aliases'?"),
        (
            {"aliases": {"production": {"approvals": -1}}},
            "policy.yaml: aliases.production.approvals",
            "must be greater than or equal to 0",
        ),
        (
            {"aliases": {"production": {"approvals": "2"}}},
            "policy.yaml: aliases.production.approvals",
            "expected a whole number",
        ),
        (
            {"aliases": {"production": {"approvals": 200}}},
            "policy.yaml: aliases.production.approvals",
            "must be less than or equal to 50",
        ),
        (
            {"aliases": {"production": {"signature": "yes"}}},
            "policy.yaml: aliases.production.signature",
            "not one of the allowed values",
        ),
        (
            {"aliases": {"production": {"lineage": True}}},
            "policy.yaml: aliases.production.lineage",
            "not one of the allowed values",
        ),
        (
            {"aliases": {"production": {"evaluations": [{"metric": "auc", "minimum": 1}]}}},
            "policy.yaml: aliases.production.evaluations[0].minimum",
            "unknown field; did you mean 'min'?",
        ),
        (
            {"aliases": {"production": {"evaluations": [{"metric": "auc", "max_increase": -1}]}}},
            "policy.yaml: aliases.production.evaluations[0].max_increase",
            "must be greater than or equal to 0",
        ),
        (
            {"aliases": {"production": {"evaluations": [{"min": 1}]}}},
            "policy.yaml: aliases.production.evaluations[0].metric",
            "required field is missing",
        ),
        (
            {"aliases": {"production": {"evaluations": [{"metric": "auc"}]}}},
            "policy.yaml: aliases.production.evaluations[0]",
            "no comparison given",
        ),
        (
            {"aliases": {"production": {"evaluations": [{"metric": "auc", "min": 1, "max": 2}]}}},
            "policy.yaml: aliases.production.evaluations[0]",
            "give exactly one comparison",
        ),
        (
            {"aliases": {"production": {"jurisdictions": []}}},
            "policy.yaml: aliases.production.jurisdictions",
            "an empty list allows no input at all",
        ),
        ({"aliases": {"Prod": {}}}, "policy.yaml: aliases.Prod", "invalid alias name"),
        ({"aliases": []}, "policy.yaml: aliases", "expected a mapping"),
    ],
)
def test_problems_are_located(document: Any, location: str, message: str) -> None:
    problems = problems_of(lambda: policy_from_document(document, "policy.yaml"))
    assert [(p.location, p.message) for p in problems] == [(location, message)]


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "aliases": {
            "production": {"evaluations": [{"metric": "auc"}, {"metric": "x", "min": 1}]},
            "staging": {"jurisdictions": []},
        }
    }
    problems = problems_of(lambda: policy_from_document(document, "policy.yaml"))
    assert [p.location for p in problems] == [
        "policy.yaml: aliases.production.evaluations[0]",
        "policy.yaml: aliases.staging.jurisdictions",
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    problems = problems_of(lambda: load_policy(tmp_path / "nope.yaml"))
    assert problems[0].message == "file not found"


names = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
thresholds = st.floats(min_value=0, max_value=1e6, allow_nan=False)
evaluation_rules = st.builds(EvaluationRule, names, st.sampled_from(list(Comparison)), thresholds)
alias_rules = st.builds(
    AliasRules,
    protected=st.booleans(),
    approvals=st.integers(min_value=0, max_value=50),
    signature=st.sampled_from(list(Requirement)),
    lineage=st.sampled_from(list(Requirement)),
    jurisdictions=st.none() | st.lists(names, min_size=1, max_size=3, unique=True).map(tuple),
    evaluations=st.lists(evaluation_rules, max_size=4).map(tuple),
)


@given(st.dictionaries(names, alias_rules, max_size=4))
def test_any_policy_round_trips(aliases: dict[str, AliasRules]) -> None:
    policy = PromotionPolicy(aliases)
    assert policy_from_document(policy_to_document(policy)) == policy
