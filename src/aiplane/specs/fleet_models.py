"""The shape of ``fleet.yaml``: pydantic models checked field by field.

Rules that span fields (unique names, known accelerators, catalog look-ups, min <= max) are
checked when the document is converted to core types, in :mod:`aiplane.specs.fleet`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, field_validator

from aiplane.specs.common import Name, NonNegative, Positive, SpecModel, Text

AUTO = "auto"
BACKEND_PATTERN = r"^[a-z][a-z0-9_-]*$"


class NodesRange(SpecModel):
    min: int = Field(ge=0, description="a whole number >= 0")
    max: int = Field(ge=0, description="a whole number >= 0")


class NodeSpec(SpecModel):
    """One node: an explicit shape, ``instance_type`` (shape from the catalog), or both.

    Fields given next to ``instance_type`` override the catalog's; a resolved fleet document
    gives all of them, so it can be read back without the catalog.
    """

    accelerator: str | None = Field(
        None,
        description="an accelerator type (e.g. H100-80GB), 'auto' for a local pool, "
        "or absent for CPU-only nodes",
    )
    gpus: int | None = Field(None, ge=0, description="a whole number >= 0")
    cpus: float | None = Field(None, ge=0, description="a number >= 0")
    memory_gib: float | None = Field(None, ge=0, description="a number >= 0")
    instance_type: str | None = Field(
        None, min_length=1, description="an instance type from the price catalog"
    )
    custom_accelerator: bool = Field(
        False, description="true to accept an accelerator name that aiplane does not know"
    )


class PricingSpec(SpecModel):
    model: Literal["owned", "on_demand", "spot", "reserved"] | None = Field(
        None, description="owned, on_demand, spot, reserved"
    )
    usd_per_gpu_hour: float | None = Field(None, ge=0, description="a number >= 0")
    usd_per_node_hour: float | None = Field(None, ge=0, description="a number >= 0")
    interruption_rate_per_hour: float = Field(0.0, ge=0, description="a number >= 0")
    source: str | None = Field(
        None, description="where the price came from ('spec' or 'catalog:<file>')"
    )
    reserved_gpu_hours_per_month: float | None = Field(
        None, ge=0, description="a number >= 0: GPU-hours prepaid per month (model reserved)"
    )
    reserved_usd_per_gpu_hour: float | None = Field(
        None, ge=0, description="a number >= 0: the commitment's effective rate (model reserved)"
    )


class PoolSpec(SpecModel):
    name: Name
    backend: str = Field(
        pattern=BACKEND_PATTERN,
        description="a backend name such as local or emulated (lower-case letters, digits, "
        "'-', '_')",
    )
    backend_config: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="a mapping of settings for the pool's backend (which settings: see the "
        "backend; local and emulated take serve_host and ports)",
    )
    nodes: NodesRange = Field(
        default_factory=lambda: NodesRange(min=1, max=1),
        description="a node count (a whole number >= 0) or {min, max}",
    )
    node: NodeSpec = Field(
        description="{accelerator, gpus, cpus, memory_gib} or {instance_type}",
    )
    pricing: PricingSpec | None = Field(
        None, description="{model, usd_per_gpu_hour | usd_per_node_hour, ...}"
    )

    @field_validator("nodes", mode="before")
    @classmethod
    def _count_or_range(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a node count or {min, max}")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a node count must be >= 0")
            return {"min": value, "max": value}
        return value


class SiteSpec(SpecModel):
    name: Name
    kind: Literal["cloud", "onprem", "edge"] = Field(description="cloud, onprem, edge")
    region: Text
    jurisdiction: Text
    provider: str | None = Field(None, min_length=1, description="a provider name, e.g. gcp")
    egress_usd_per_gb: NonNegative = 0.0
    latency_ms: dict[str, NonNegative] = Field(
        default_factory=dict,
        description="a mapping of user region -> round-trip milliseconds (numbers >= 0)",
    )
    pools: list[PoolSpec] = Field(default_factory=list, description="a list of pools")


AcceleratorAmounts = Annotated[
    dict[str, NonNegative],
    Field(description="a mapping of accelerator type -> GPUs (numbers >= 0)"),
]


class TeamSpec(SpecModel):
    name: Name
    cohort: Name | None = None
    quota: AcceleratorAmounts = Field(default_factory=dict)
    borrowing_limit: AcceleratorAmounts = Field(default_factory=dict)
    lending_limit: AcceleratorAmounts = Field(default_factory=dict)
    budget_usd_per_month: float | None = Field(None, ge=0, description="a number >= 0")


class DatasetSpec(SpecModel):
    name: Name
    site: Name
    size_gb: NonNegative
    jurisdiction: str | None = Field(None, min_length=1, description="a jurisdiction, e.g. EU")
    content_hash: str | None = Field(None, min_length=1, description="e.g. sha256:<hex>")
    version: int | None = Field(None, ge=1, description="a version number >= 1 (name@N)")
    replicas: list[Name] = Field(
        default_factory=list,
        description="a list of site names that hold a copy (besides site, the primary copy)",
    )


RULE_KINDS = "alert, block, spot_or_owned_only, lower_priority, cap_replicas, prefer_owned_edge"


class BudgetRuleSpec(SpecModel):
    kind: Literal[
        "alert",
        "block",
        "spot_or_owned_only",
        "lower_priority",
        "cap_replicas",
        "prefer_owned_edge",
    ] = Field(description=RULE_KINDS)
    at: float = Field(1.0, gt=0, description="a share of the budget > 0 (0.8 is 80%)")
    basis: Literal["spent", "forecast"] = Field("spent", description="spent, forecast")
    replicas: int | None = Field(
        None, ge=1, description="cap_replicas only: the most replicas per site, >= 1 (default 1)"
    )


class WebhookSpec(SpecModel):
    url: str = Field(pattern=r"^https?://\S+$", description="an http:// or https:// URL")
    secret: str | None = Field(
        None, min_length=1, description="the HMAC secret (never shown back: prefer secret_env)"
    )
    secret_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the name of a server environment variable that holds the HMAC secret",
    )


class BudgetSpec(SpecModel):
    name: Name
    team: Name | None = Field(None, description="a team name (give team or project)")
    project: Name | None = Field(None, description="a project name (give team or project)")
    period: Literal["monthly", "weekly"] = Field("monthly", description="monthly, weekly")
    amount_usd: Positive
    rules: list[BudgetRuleSpec] | None = Field(
        None, description=f"a list of {{kind: {RULE_KINDS}, at, basis, replicas}}"
    )
    webhook: WebhookSpec | None = Field(None, description="{url, secret | secret_env}")


class FleetDocument(SpecModel):
    sites: list[SiteSpec] = Field(default_factory=list, description="a list of sites")
    teams: list[TeamSpec] = Field(default_factory=list, description="a list of teams")
    datasets: list[DatasetSpec] = Field(default_factory=list, description="a list of datasets")
    budgets: list[BudgetSpec] = Field(default_factory=list, description="a list of budgets")
