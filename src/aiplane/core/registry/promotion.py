"""Checking a promotion against an alias's rules: every rule that fails, each named.

Pure: the service gathers what the rules need (the approvals given, who holds the approver
role in the model's team now, whether the signature verifies, whether the lineage is complete,
the inputs' jurisdictions) and this module judges. A rule's name is a stable location in the
policy document (``approvals``, ``evaluations[1]``, ``signature``, ``lineage``,
``jurisdictions``), what the refusal's problems carry.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from aiplane.core.registry.policy import AliasRules, Comparison, EvaluationRule, Requirement
from aiplane.core.registry.records import Approval, ModelVersion


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    message: str


@dataclass(frozen=True)
class RuleNote:
    """A rule that passed for want of anything to check, said so the service may show it."""

    rule: str
    message: str


class SignatureState(StrEnum):
    VALID = "valid"
    ABSENT = "absent"  # the version was registered unsigned
    INVALID = "invalid"  # there is a signature and it does not verify


@dataclass(frozen=True)
class PromotionFacts:
    """What the service checked. ``lineage_missing`` empty: the lineage is complete;
    ``jurisdictions``: each input dataset version (``name@N``) with its jurisdiction, None
    when it has none recorded (an input absent from the mapping is unknown)."""

    signature: SignatureState
    signature_reason: str = ""
    lineage_missing: tuple[str, ...] = ()
    jurisdictions: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionCheck:
    failures: tuple[RuleFailure, ...]
    notes: tuple[RuleNote, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def evaluate(
    rules: AliasRules | None,
    candidate: ModelVersion,
    current: ModelVersion | None,
    approvals: Iterable[Approval],
    approvers: Collection[str],
    facts: PromotionFacts,
) -> list[RuleFailure]:
    """Every rule of ``rules`` that ``candidate`` fails (empty: it may move)."""
    return list(check(rules, candidate, current, approvals, approvers, facts).failures)


def check(
    rules: AliasRules | None,
    candidate: ModelVersion,
    current: ModelVersion | None,
    approvals: Iterable[Approval],
    approvers: Collection[str],
    facts: PromotionFacts,
) -> PromotionCheck:
    """:func:`evaluate` with the notes of the relative rules that had nothing to compare."""
    if rules is None:
        return PromotionCheck((), ())
    failures: list[RuleFailure] = []
    notes: list[RuleNote] = []
    approval_failure = _approvals(rules.approvals, candidate, approvals, approvers)
    if approval_failure is not None:
        failures.append(approval_failure)
    for i, rule in enumerate(rules.evaluations):
        outcome = _evaluation(f"evaluations[{i}]", rule, candidate, current)
        if isinstance(outcome, RuleFailure):
            failures.append(outcome)
        elif outcome is not None:
            notes.append(outcome)
    signature = _signature(rules.signature, facts)
    if signature is not None:
        failures.append(signature)
    if rules.lineage is Requirement.REQUIRED and facts.lineage_missing:
        failures.append(
            RuleFailure("lineage", "incomplete lineage: " + "; ".join(facts.lineage_missing))
        )
    if rules.jurisdictions is not None:
        jurisdiction = _jurisdictions(rules.jurisdictions, candidate.inputs, facts.jurisdictions)
        if jurisdiction is not None:
            failures.append(jurisdiction)
    return PromotionCheck(tuple(failures), tuple(notes))


def _approvals(
    required: int,
    candidate: ModelVersion,
    approvals: Iterable[Approval],
    approvers: Collection[str],
) -> RuleFailure | None:
    if required <= 0:
        return None
    counted, refused = sort_approvals(candidate, approvals, approvers)
    if len(counted) >= required:
        return None
    noun = "approval" if required == 1 else "approvals"
    message = f"{required} {noun} required from the team's approvers, {len(counted)} counted"
    if counted:
        message += f" (by {', '.join(counted)})"
    return RuleFailure("approvals", "; ".join([message, *dict.fromkeys(refused)]))


def counted_approvals(
    candidate: ModelVersion, approvals: Iterable[Approval], approvers: Collection[str]
) -> tuple[str, ...]:
    """Who of ``approvals`` counts for ``candidate``: approvers of the team now, not its
    author, each once. What a move records as "with which approvals", so that an approval
    that did not count (the author's own, forged into the store) is never shown as one."""
    return sort_approvals(candidate, approvals, approvers)[0]


def sort_approvals(
    candidate: ModelVersion, approvals: Iterable[Approval], approvers: Collection[str]
) -> tuple[tuple[str, ...], list[str]]:
    """(the approvers that count, in order; why each other approval does not)."""
    counted: list[str] = []
    refused: list[str] = []
    for approval in approvals:
        if (approval.model, approval.version) != (candidate.model, candidate.version):
            refused.append(f"approval by {approval.by} is for {approval.model}@{approval.version}")
        elif approval.by == candidate.created_by:
            refused.append(f"approval by the author {approval.by} does not count")
        elif approval.by not in approvers:
            refused.append(
                f"approval by {approval.by} does not count: not an approver of the team now"
            )
        elif approval.by not in counted:  # one person approving twice is one approval
            counted.append(approval.by)
    return tuple(counted), refused


def _evaluation(
    rule_name: str, rule: EvaluationRule, candidate: ModelVersion, current: ModelVersion | None
) -> RuleFailure | RuleNote | None:
    what = rule.describe()
    value = candidate.metrics.get(rule.metric)
    if value is None:
        return RuleFailure(rule_name, f"{what}: {rule.metric} not recorded for {candidate.ref}")
    if rule.comparison is Comparison.MIN:
        return None if value >= rule.threshold else _below(rule_name, what, value, rule.threshold)
    if rule.comparison is Comparison.MAX:
        return None if value <= rule.threshold else _above(rule_name, what, value, rule.threshold)
    if current is None:
        return RuleNote(rule_name, f"{what}: no version holds the alias now, nothing to compare")
    base = current.metrics.get(rule.metric)
    if base is None:
        # Fail closed: a relative rule the service cannot check is not a rule that passed.
        return RuleFailure(
            rule_name, f"{what}: {rule.metric} not recorded for the current {current.ref}"
        )
    if rule.comparison is Comparison.MIN_DELTA:
        bound = base + rule.threshold
        if value >= bound:
            return None
        return _below(rule_name, what, value, bound, f" ({current.ref} has {base:g})")
    bound = base + abs(base) * rule.threshold
    if value <= bound:
        return None
    return _above(rule_name, what, value, bound, f" ({current.ref} has {base:g})")


def _below(rule: str, what: str, value: float, bound: float, why: str = "") -> RuleFailure:
    return RuleFailure(rule, f"{what}: {value:g} is below {bound:g}{why}")


def _above(rule: str, what: str, value: float, bound: float, why: str = "") -> RuleFailure:
    return RuleFailure(rule, f"{what}: {value:g} is above {bound:g}{why}")


def _signature(requirement: Requirement, facts: PromotionFacts) -> RuleFailure | None:
    if facts.signature is SignatureState.VALID:
        return None
    reason = f": {facts.signature_reason}" if facts.signature_reason else ""
    if facts.signature is SignatureState.INVALID:
        # Optional means a version may be unsigned, never that a broken signature passes.
        return RuleFailure("signature", f"the signature does not verify{reason}")
    if requirement is Requirement.REQUIRED:
        return RuleFailure(
            "signature", f"a valid signature is required, the version has none{reason}"
        )
    return None


def _jurisdictions(
    allowed: Sequence[str], inputs: Sequence[str], known: Mapping[str, str | None]
) -> RuleFailure | None:
    bad = []
    for ref in inputs:
        if ref not in known:
            bad.append(f"{ref}: not in the registry")
        elif known[ref] is None:
            bad.append(f"{ref}: no jurisdiction recorded")
        elif known[ref] not in allowed:
            bad.append(f"{ref}: {known[ref]}")
    if not bad:
        return None
    return RuleFailure("jurisdictions", f"inputs outside {', '.join(allowed)}: " + "; ".join(bad))
