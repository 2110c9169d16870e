"""A model's (or a team's) promotion policy document to a core
:class:`~aiplane.core.registry.policy.PromotionPolicy` (decision 0045).

```yaml
aliases:
  production:
    protected: true          # default true for production, false for any other alias
    approvals: 2             # by the team's approvers, none by the version's author
    signature: required      # required (default) | optional
    lineage: required        # required | optional (default)
    jurisdictions: [EU]      # the inputs' jurisdictions allowed (absent: any)
    evaluations:
      - {metric: auc, min: 0.90}
      - {metric: auc, min_delta: 0.0}
      - {metric: latency_p95_ms, max: 50}
      - {metric: latency_p95_ms, max_increase: 0.10}
  staging: {approvals: 0}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from aiplane.core.registry.policy import (
    AliasRules,
    Comparison,
    EvaluationRule,
    PromotionPolicy,
    Requirement,
    default_protected,
)
from aiplane.core.registry.refs import name_problem
from aiplane.specs.common import SpecModel, Text
from aiplane.specs.errors import Loc, Problems, validate
from aiplane.specs.loader import read_yaml

# More approvals than any team has approvers is a policy nobody can pass; the bound only
# catches a typo (200 for 2).
APPROVALS_MAX = 50
COMPARISONS = tuple(c.value for c in Comparison)


class EvaluationSpec(SpecModel):
    metric: Text
    min: float | None = Field(None, description="the lowest value allowed")
    max: float | None = Field(None, description="the highest value allowed")
    min_delta: float | None = Field(
        None, description="at least the current version's value plus this (may be negative)"
    )
    max_increase: float | None = Field(
        None, ge=0, description="a fraction >= 0: at most this much above the current value"
    )


class AliasSpec(SpecModel):
    protected: bool | None = Field(None, description="true or false")
    approvals: int = Field(0, ge=0, le=APPROVALS_MAX, description=f"0 to {APPROVALS_MAX}")
    signature: Literal["required", "optional"] = "required"
    lineage: Literal["required", "optional"] = "optional"
    jurisdictions: list[Text] | None = Field(
        None, description="a list of jurisdictions (absent: any)"
    )
    evaluations: list[EvaluationSpec] = Field(default_factory=list)


class PolicyDocument(SpecModel):
    aliases: dict[str, AliasSpec] = Field(default_factory=dict)


def load_policy(path: str | Path) -> PromotionPolicy:
    return policy_from_document(read_yaml(path), str(path))


def policy_from_document(document: Any, source: str = "policy") -> PromotionPolicy:
    """Every problem of the document in one SpecError, located at ``source: aliases.<a>...``."""
    spec = validate(PolicyDocument, document, source, "promotion policy")
    problems = Problems(source)
    aliases: dict[str, AliasRules] = {}
    for alias, entry in spec.aliases.items():
        loc: list[str | int] = ["aliases", alias]
        bad_name = name_problem(alias, "", "alias name")
        if bad_name is not None:
            problems.add(loc, bad_name.message, alias, bad_name.allowed)
        jurisdictions = None
        if entry.jurisdictions is not None:
            if not entry.jurisdictions:
                problems.add(
                    [*loc, "jurisdictions"],
                    "an empty list allows no input at all",
                    entry.jurisdictions,
                    "one jurisdiction or more (leave it out to allow any)",
                )
            jurisdictions = tuple(dict.fromkeys(entry.jurisdictions))
        evaluations = [
            _evaluation(problems, [*loc, "evaluations", i], e)
            for i, e in enumerate(entry.evaluations)
        ]
        aliases[alias] = AliasRules(
            protected=default_protected(alias) if entry.protected is None else entry.protected,
            approvals=entry.approvals,
            signature=Requirement(entry.signature),
            lineage=Requirement(entry.lineage),
            jurisdictions=jurisdictions,
            evaluations=tuple(e for e in evaluations if e is not None),
        )
    problems.raise_if_any("promotion policy")
    return PromotionPolicy(aliases)


def _evaluation(problems: Problems, loc: Loc, spec: EvaluationSpec) -> EvaluationRule | None:
    given = {c: getattr(spec, c) for c in COMPARISONS if getattr(spec, c) is not None}
    if len(given) != 1:
        problems.add(
            loc,
            "give exactly one comparison" if given else "no comparison given",
            given or None,
            ", ".join(COMPARISONS),
            show_given=bool(given),
        )
        return None
    ((comparison, threshold),) = given.items()
    return EvaluationRule(spec.metric, Comparison(comparison), float(threshold))


def policy_to_document(policy: PromotionPolicy) -> dict[str, Any]:
    """The document that reads back as ``policy`` (every field written out)."""
    aliases: dict[str, Any] = {}
    for alias, rules in policy.aliases.items():
        entry: dict[str, Any] = {
            "protected": rules.protected,
            "approvals": rules.approvals,
            "signature": rules.signature.value,
            "lineage": rules.lineage.value,
        }
        if rules.jurisdictions is not None:
            entry["jurisdictions"] = list(rules.jurisdictions)
        if rules.evaluations:
            entry["evaluations"] = [
                {"metric": e.metric, e.comparison.value: e.threshold} for e in rules.evaluations
            ]
        aliases[alias] = entry
    return {"aliases": aliases}
