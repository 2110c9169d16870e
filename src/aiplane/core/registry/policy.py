"""Promotion policies: what it takes to move an alias of a model.

A policy maps alias names to rules (``specs/registry_policy.py`` reads the YAML document into
these types; decision 0045). An alias with no entry is unprotected and has no rules: anyone
who may promote in the team moves it. A protected alias moves only through a promotion that
passes its rules, never by a plain alias update, not even an admin's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

PRODUCTION = "production"


class Requirement(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"


class Comparison(StrEnum):
    """How an evaluation compares the candidate's metric: with a threshold (``min``, ``max``)
    or with the version the alias holds now (``min_delta``: at least current + delta;
    ``max_increase``: at most current + |current| * fraction)."""

    MIN = "min"
    MAX = "max"
    MIN_DELTA = "min_delta"
    MAX_INCREASE = "max_increase"


@dataclass(frozen=True)
class EvaluationRule:
    metric: str
    comparison: Comparison
    threshold: float

    def describe(self) -> str:
        if self.comparison is Comparison.MIN:
            return f"{self.metric} >= {self.threshold:g}"
        if self.comparison is Comparison.MAX:
            return f"{self.metric} <= {self.threshold:g}"
        if self.comparison is Comparison.MIN_DELTA:
            return f"{self.metric} >= current {self.threshold:+g}"
        return f"{self.metric} at most {self.threshold:.0%} above current"


@dataclass(frozen=True)
class AliasRules:
    """The rules of one alias. ``jurisdictions`` None: inputs from anywhere."""

    protected: bool
    approvals: int = 0
    signature: Requirement = Requirement.REQUIRED
    lineage: Requirement = Requirement.OPTIONAL
    jurisdictions: tuple[str, ...] | None = None
    evaluations: tuple[EvaluationRule, ...] = ()


@dataclass(frozen=True)
class PromotionPolicy:
    aliases: Mapping[str, AliasRules] = field(default_factory=dict)

    def rules_for(self, alias: str) -> AliasRules | None:
        """The alias's rules; None: unprotected, nothing to check."""
        return self.aliases.get(alias)

    def is_protected(self, alias: str) -> bool:
        rules = self.rules_for(alias)
        return rules is not None and rules.protected


def default_protected(alias: str) -> bool:
    """``production`` is protected unless its entry says otherwise; other aliases are not."""
    return alias == PRODUCTION


def default_policy() -> PromotionPolicy:
    """What a model gets when neither it nor its team has a policy (decision 0045):
    ``production`` protected, one approval by an approver who is not the author, a valid
    signature; lineage not required (models registered by hand have no run)."""
    return PromotionPolicy(
        {
            PRODUCTION: AliasRules(
                protected=True,
                approvals=1,
                signature=Requirement.REQUIRED,
                lineage=Requirement.OPTIONAL,
            )
        }
    )
