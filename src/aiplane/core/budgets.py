"""Budget and rule types: a leaf of the core that fleet, scheduling and cost all point down to.

A rule fires when the period's spend (or its forecast, for ``basis: forecast``) reaches ``at``
times the budget. An ``alert`` rule only notifies; the other kinds are the actions of
:class:`BudgetAction` and stay in force while the rule holds. Evaluating budgets against spend
is the cost engine's (``core.cost.budgets``); honouring the actions is the scheduler's, and
for the two that act on endpoints (``cap_replicas``, ``prefer_owned_edge``) the endpoint
reconciler's, through a :class:`~aiplane.core.serving.caps.ReplicaCap` (decision 0060).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Period(StrEnum):
    """How long a budget runs: a calendar month, or an ISO week (``core.cost.periods``)."""

    MONTHLY = "monthly"
    WEEKLY = "weekly"


class BudgetAction(StrEnum):
    """What an exceeded budget does to a team's new work (the cost engine decides which)."""

    BLOCK = "block"  # new submissions are refused (enforced at submission, not here)
    SPOT_OR_OWNED_ONLY = "spot_or_owned_only"  # only spot or owned capacity may be used
    LOWER_PRIORITY = "lower_priority"  # the team's pending work drops to the lowest class
    # The team's endpoints keep at most the rule's ``replicas`` per site (never below one).
    CAP_REPLICAS = "cap_replicas"
    # Where placement chooses an endpoint's sites, on-premise and edge sites come first.
    PREFER_OWNED_EDGE = "prefer_owned_edge"


class BudgetScope(StrEnum):
    TEAM = "team"
    PROJECT = "project"


class RuleKind(StrEnum):
    ALERT = "alert"
    BLOCK = "block"
    SPOT_OR_OWNED_ONLY = "spot_or_owned_only"
    LOWER_PRIORITY = "lower_priority"
    CAP_REPLICAS = "cap_replicas"
    PREFER_OWNED_EDGE = "prefer_owned_edge"

    @property
    def action(self) -> BudgetAction | None:
        return None if self is RuleKind.ALERT else BudgetAction(self.value)


class Basis(StrEnum):
    SPENT = "spent"
    FORECAST = "forecast"


# The replicas per site a ``cap_replicas`` rule leaves when it gives no number.
DEFAULT_CAP_REPLICAS = 1


@dataclass(frozen=True)
class BudgetRule:
    kind: RuleKind
    at: float = 1.0  # share of the budget's amount
    basis: Basis = Basis.SPENT
    # ``cap_replicas`` only: the most replicas per site (None: DEFAULT_CAP_REPLICAS).
    replicas: int | None = None

    @property
    def max_replicas(self) -> int | None:
        """The cap a ``cap_replicas`` rule puts on each site; None for any other kind."""
        if self.kind is not RuleKind.CAP_REPLICAS:
            return None
        return self.replicas if self.replicas is not None else DEFAULT_CAP_REPLICAS

    @property
    def key(self) -> str:
        """Stable identity within a budget: alerts are deduplicated per key and period."""
        return f"{self.kind}@{self.at:g}:{self.basis}"

    def describe(self) -> str:
        what = "alert" if self.kind is RuleKind.ALERT else self.kind.value.replace("_", " ")
        if self.kind is RuleKind.CAP_REPLICAS:
            what = f"cap replicas at {self.max_replicas} per site"
        elif self.kind is RuleKind.PREFER_OWNED_EDGE:
            what = "prefer on-premise and edge sites"
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
