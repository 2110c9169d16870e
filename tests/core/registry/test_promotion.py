"""Promotion rules: every failing rule named, self-approvals and former approvers not counted,
missing metrics failing, relative rules with nothing to compare passing with a note."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.registry.policy import (
    AliasRules,
    Comparison,
    EvaluationRule,
    Requirement,
    default_policy,
)
from aiplane.core.registry.promotion import (
    PromotionFacts,
    RuleFailure,
    SignatureState,
    check,
    evaluate,
)
from aiplane.core.registry.records import Approval, Flavor, ModelVersion, RunLineage

AUTHOR = "u-author"
APPROVERS = frozenset({"u-ann", "u-bob", AUTHOR})
VALID = PromotionFacts(SignatureState.VALID)


def version(n: int, metrics: Mapping[str, float] | None = None, **kw: object) -> ModelVersion:
    base = ModelVersion(
        model="churn",
        version=n,
        artifact="sha256:" + "0" * 64,
        flavor=Flavor.SKLEARN,
        created_at=1000.0 + n,
        created_by=AUTHOR,
        metrics=dict(metrics or {}),
        run=RunLineage("job-1", "git:abc"),
        inputs=("clicks@3",),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def approval(by: str, n: int = 2, alias: str = "production") -> Approval:
    return Approval("churn", n, alias, by, 2000.0)


def rules(**kw: object) -> AliasRules:
    return replace(AliasRules(protected=True, signature=Requirement.OPTIONAL), **kw)  # type: ignore[arg-type]


def failed(found: list[RuleFailure]) -> list[str]:
    return [f.rule for f in found]


def test_no_rules_nothing_to_check() -> None:
    assert evaluate(None, version(2), None, [], set(), PromotionFacts(SignatureState.INVALID)) == []


def test_the_default_policy_needs_one_approval_and_a_signature() -> None:
    production = default_policy().rules_for("production")
    unsigned = PromotionFacts(SignatureState.ABSENT)
    assert failed(evaluate(production, version(2), None, [], APPROVERS, unsigned)) == [
        "approvals",
        "signature",
    ]
    assert evaluate(production, version(2), None, [approval("u-ann")], APPROVERS, VALID) == []


@pytest.mark.parametrize(
    ("required", "given", "passes", "says"),
    [
        (1, [], False, "1 approval required from the team's approvers, 0 counted"),
        (1, ["u-ann"], True, ""),
        (
            2,
            ["u-ann"],
            False,
            "2 approvals required from the team's approvers, 1 counted (by u-ann)",
        ),
        (2, ["u-ann", "u-bob"], True, ""),
        (2, ["u-ann", "u-ann"], False, "1 counted (by u-ann)"),  # twice by one person is one
        (1, [AUTHOR], False, f"approval by the author {AUTHOR} does not count"),
        (2, ["u-ann", AUTHOR], False, f"approval by the author {AUTHOR} does not count"),
        (
            1,
            ["u-gone"],
            False,
            "approval by u-gone does not count: not an approver of the team now",
        ),
        (0, [], True, ""),
    ],
)
def test_approvals(required: int, given: list[str], passes: bool, says: str) -> None:
    found = evaluate(
        rules(approvals=required), version(2), None, [approval(b) for b in given], APPROVERS, VALID
    )
    if passes:
        assert found == []
    else:
        assert failed(found) == ["approvals"]
        assert says in found[0].message


def test_an_approval_of_another_version_does_not_count() -> None:
    found = evaluate(
        rules(approvals=1), version(2), None, [approval("u-ann", n=1)], APPROVERS, VALID
    )
    assert found == [
        RuleFailure(
            "approvals",
            "1 approval required from the team's approvers, 0 counted;"
            " approval by u-ann is for churn@1",
        )
    ]


def test_a_self_approval_and_a_former_approver_are_both_named() -> None:
    found = evaluate(
        rules(approvals=1),
        version(2),
        None,
        [approval(AUTHOR), approval("u-gone")],
        APPROVERS,
        VALID,
    )
    assert found[0].message == (
        "1 approval required from the team's approvers, 0 counted;"
        f" approval by the author {AUTHOR} does not count;"
        " approval by u-gone does not count: not an approver of the team now"
    )


AUC_MIN = EvaluationRule("auc", Comparison.MIN, 0.9)
AUC_DELTA = EvaluationRule("auc", Comparison.MIN_DELTA, 0.0)
LAT_MAX = EvaluationRule("latency_p95_ms", Comparison.MAX, 50.0)
LAT_INC = EvaluationRule("latency_p95_ms", Comparison.MAX_INCREASE, 0.10)


@pytest.mark.parametrize(
    ("rule", "candidate", "current", "passes", "says"),
    [
        (AUC_MIN, {"auc": 0.91}, None, True, ""),
        (AUC_MIN, {"auc": 0.90}, None, True, ""),  # the threshold itself passes
        (AUC_MIN, {"auc": 0.89}, None, False, "auc >= 0.9: 0.89 is below 0.9"),
        (AUC_MIN, {}, None, False, "auc >= 0.9: auc not recorded for churn@2"),
        (AUC_MIN, {"auc": float("nan")}, None, False, "is below"),
        (LAT_MAX, {"latency_p95_ms": 50}, None, True, ""),
        (LAT_MAX, {"latency_p95_ms": 51}, None, False, "latency_p95_ms <= 50: 51 is above 50"),
        (AUC_DELTA, {"auc": 0.92}, {"auc": 0.92}, True, ""),
        (AUC_DELTA, {"auc": 0.91}, {"auc": 0.92}, False, "0.91 is below 0.92 (churn@1 has 0.92)"),
        (
            AUC_DELTA,
            {"auc": 0.95},
            {},
            False,
            "auc >= current +0: auc not recorded for the current churn@1",
        ),
        (LAT_INC, {"latency_p95_ms": 44}, {"latency_p95_ms": 40}, True, ""),
        (LAT_INC, {"latency_p95_ms": 44.0001}, {"latency_p95_ms": 40}, False, "is above 44"),
        (LAT_INC, {"latency_p95_ms": 30}, {"latency_p95_ms": 40}, True, ""),
        (LAT_INC, {}, {"latency_p95_ms": 40}, False, "not recorded for churn@2"),
    ],
)
def test_evaluations(
    rule: EvaluationRule,
    candidate: dict[str, float],
    current: dict[str, float] | None,
    passes: bool,
    says: str,
) -> None:
    held = None if current is None else version(1, current)
    found = evaluate(rules(evaluations=(rule,)), version(2, candidate), held, [], set(), VALID)
    if passes:
        assert found == []
    else:
        assert failed(found) == ["evaluations[0]"]
        assert says in found[0].message


def test_relative_rules_with_no_current_version_pass_with_a_note() -> None:
    outcome = check(
        rules(evaluations=(AUC_MIN, AUC_DELTA, LAT_INC)),
        version(2, {"auc": 0.95, "latency_p95_ms": 10}),
        None,
        [],
        set(),
        VALID,
    )
    assert outcome.passed
    assert [(n.rule, n.message) for n in outcome.notes] == [
        ("evaluations[1]", "auc >= current +0: no version holds the alias now, nothing to compare"),
        (
            "evaluations[2]",
            (
                "latency_p95_ms at most 10% above current: no version holds the alias now,"
                " nothing to compare"
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("requirement", "state", "passes"),
    [
        (Requirement.REQUIRED, SignatureState.VALID, True),
        (Requirement.REQUIRED, SignatureState.ABSENT, False),
        (Requirement.REQUIRED, SignatureState.INVALID, False),
        (Requirement.OPTIONAL, SignatureState.VALID, True),
        (Requirement.OPTIONAL, SignatureState.ABSENT, True),
        # Optional never lets a broken signature through: it is a tampering, not an absence.
        (Requirement.OPTIONAL, SignatureState.INVALID, False),
    ],
)
def test_signature(requirement: Requirement, state: SignatureState, passes: bool) -> None:
    facts = PromotionFacts(state, "weights.bin: changed")
    found = evaluate(rules(signature=requirement), version(2), None, [], set(), facts)
    assert failed(found) == ([] if passes else ["signature"])
    if not passes:
        assert found[0].message.endswith(": weights.bin: changed")


@pytest.mark.parametrize(
    ("requirement", "missing", "passes"),
    [
        (Requirement.REQUIRED, (), True),
        (Requirement.REQUIRED, ("no run recorded",), False),
        (Requirement.OPTIONAL, ("no run recorded",), True),
    ],
)
def test_lineage(requirement: Requirement, missing: tuple[str, ...], passes: bool) -> None:
    facts = PromotionFacts(SignatureState.VALID, lineage_missing=missing)
    found = evaluate(rules(lineage=requirement), version(2), None, [], set(), facts)
    assert found == (
        [] if passes else [RuleFailure("lineage", "incomplete lineage: no run recorded")]
    )


@pytest.mark.parametrize(
    ("inputs", "known", "says"),
    [
        (("clicks@3",), {"clicks@3": "EU"}, None),
        ((), {}, None),  # nothing read, nothing outside
        (("clicks@3",), {"clicks@3": "US"}, "inputs outside EU: clicks@3: US"),
        (
            ("clicks@3",),
            {"clicks@3": None},
            "inputs outside EU: clicks@3: no jurisdiction recorded",
        ),
        (("clicks@3",), {}, "inputs outside EU: clicks@3: not in the registry"),
        (
            ("a@1", "b@2", "c@1"),
            {"a@1": "EU", "b@2": "US", "c@1": "CH"},
            "inputs outside EU: b@2: US; c@1: CH",
        ),
    ],
)
def test_jurisdictions(
    inputs: tuple[str, ...], known: dict[str, str | None], says: str | None
) -> None:
    facts = PromotionFacts(SignatureState.VALID, jurisdictions=known)
    found = evaluate(
        rules(jurisdictions=("EU",)), version(2, inputs=inputs), None, [], set(), facts
    )
    assert found == ([] if says is None else [RuleFailure("jurisdictions", says)])


def test_every_failing_rule_is_reported_in_policy_order() -> None:
    strict = AliasRules(
        protected=True,
        approvals=2,
        signature=Requirement.REQUIRED,
        lineage=Requirement.REQUIRED,
        jurisdictions=("EU",),
        evaluations=(AUC_MIN, AUC_DELTA, LAT_MAX, LAT_INC),
    )
    facts = PromotionFacts(
        SignatureState.ABSENT,
        lineage_missing=("no run recorded",),
        jurisdictions={"clicks@3": "US"},
    )
    current = version(1, {"auc": 0.95, "latency_p95_ms": 20})
    candidate = version(2, {"auc": 0.93, "latency_p95_ms": 60})
    found = evaluate(strict, candidate, current, [approval(AUTHOR)], APPROVERS, facts)
    assert failed(found) == [
        "approvals",
        "evaluations[1]",
        "evaluations[2]",
        "evaluations[3]",
        "signature",
        "lineage",
        "jurisdictions",
    ]


metric = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(value=metric, threshold=metric)
def test_min_and_max_agree_with_the_comparison(value: float, threshold: float) -> None:
    candidate = version(2, {"m": value})
    low = evaluate(
        rules(evaluations=(EvaluationRule("m", Comparison.MIN, threshold),)),
        candidate,
        None,
        [],
        set(),
        VALID,
    )
    high = evaluate(
        rules(evaluations=(EvaluationRule("m", Comparison.MAX, threshold),)),
        candidate,
        None,
        [],
        set(),
        VALID,
    )
    assert (low == []) is (value >= threshold)
    assert (high == []) is (value <= threshold)
    assert low == [] or high == []  # a value is never both below and above one threshold


@given(
    value=metric,
    base=metric,
    fraction=st.floats(min_value=0, max_value=10, allow_nan=False),
)
def test_max_increase_is_relative_to_the_current_value(
    value: float, base: float, fraction: float
) -> None:
    rule = EvaluationRule("m", Comparison.MAX_INCREASE, fraction)
    found = evaluate(
        rules(evaluations=(rule,)),
        version(2, {"m": value}),
        version(1, {"m": base}),
        [],
        set(),
        VALID,
    )
    assert (found == []) is (value <= base + abs(base) * fraction)
    if value <= base:  # no increase always passes, whatever the fraction
        assert found == []


@given(
    approvers=st.sets(st.sampled_from(["a", "b", "c", "d", AUTHOR])),
    given_by=st.lists(st.sampled_from(["a", "b", "c", "d", "e", AUTHOR]), max_size=8),
    required=st.integers(min_value=1, max_value=4),
)
def test_approvals_count_distinct_approvers_other_than_the_author(
    approvers: set[str], given_by: list[str], required: int
) -> None:
    found = evaluate(
        rules(approvals=required),
        version(2),
        None,
        [approval(b) for b in given_by],
        approvers,
        VALID,
    )
    counted = {b for b in given_by if b in approvers and b != AUTHOR}
    assert (found == []) is (len(counted) >= required)
