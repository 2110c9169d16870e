"""The ``budgets:`` section of ``fleet.yaml`` to core budgets, with the checks that span fields:
one of team or project, a known team, unique names, a rule listed once, ``replicas`` on a
``cap_replicas`` rule only."""

from __future__ import annotations

from collections.abc import Sequence

from aiplane.core.budgets import (
    DEFAULT_RULES,
    Basis,
    Budget,
    BudgetRule,
    BudgetScope,
    Period,
    RuleKind,
    Webhook,
)
from aiplane.specs.errors import Problems, did_you_mean
from aiplane.specs.fleet_models import BudgetSpec


def budgets_from_specs(
    problems: Problems, specs: Sequence[BudgetSpec], teams: Sequence[str]
) -> tuple[Budget, ...]:
    out: list[Budget] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        loc: list[str | int] = ["budgets", i]
        if spec.name in seen:
            problems.add(
                [*loc, "name"],
                f"duplicate budget name (also budgets[{seen[spec.name]}])",
                spec.name,
                "a name not used by another budget",
            )
        seen.setdefault(spec.name, i)
        if (spec.team is None) == (spec.project is None):
            problems.add(
                loc,
                "give exactly one of team or project",
                {"team": spec.team, "project": spec.project},
                "team: <a team> or project: <a project>",
            )
            continue
        if spec.team is not None and teams and spec.team not in teams:
            guess = did_you_mean(spec.team, teams)
            problems.add(
                [*loc, "team"],
                "unknown team" + (f"; did you mean {guess!r}?" if guess else ""),
                spec.team,
                ", ".join(teams),
            )
        rules: tuple[BudgetRule, ...] = DEFAULT_RULES
        if spec.rules is not None:
            rules = tuple(
                BudgetRule(RuleKind(r.kind), r.at, Basis(r.basis), r.replicas) for r in spec.rules
            )
            for j, rule in enumerate(rules):
                if rule.replicas is not None and rule.kind is not RuleKind.CAP_REPLICAS:
                    problems.add(
                        [*loc, "rules", j, "replicas"],
                        f"replicas applies to cap_replicas rules only, not {rule.kind}",
                        rule.replicas,
                        "no replicas, or kind: cap_replicas",
                    )
            keys = [r.key for r in rules]
            for j, key in enumerate(keys):
                if key in keys[:j]:
                    problems.add([*loc, "rules", j], "rule listed twice", key, "each rule once")
        webhook = None
        if spec.webhook is not None:
            w = spec.webhook
            if w.secret is not None and w.secret_env is not None:
                problems.add(
                    [*loc, "webhook"],
                    "give secret or secret_env, not both",
                    None,
                    "secret_env (kept out of the fleet document) or secret",
                    show_given=False,
                )
            webhook = Webhook(w.url, w.secret, w.secret_env)
        scope = BudgetScope.TEAM if spec.team is not None else BudgetScope.PROJECT
        out.append(
            Budget(
                name=spec.name,
                scope=scope,
                target=spec.team or spec.project or "",
                amount_usd=spec.amount_usd,
                period=Period(spec.period),
                rules=rules,
                webhook=webhook,
            )
        )
    return tuple(out)
