"""The shape of ``endpoint.yaml``: pydantic models checked field by field.

What needs more than one field (a model or a command, sites or placement, bounds in order,
a canary of the endpoint's own model) is checked when the document is converted to a core
:class:`~aiplane.core.serving.endpoints.EndpointSpec` in :mod:`aiplane.specs.endpoint`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from aiplane.core.guards.pii import PII_TYPES
from aiplane.specs.common import Name, Positive, SpecModel, Text
from aiplane.specs.shorthand import GRAMMAR
from aiplane.specs.workload_models import (
    ENV_MAX_VARIABLES,
    MODEL_ALLOWED,
    RUN_MAX_CHARS,
    EnvValue,
    LabelValue,
    ModelRef,
    _as_shell_text,
)

REPLICAS_MAX = 1000
PATH_MAX_CHARS = 1024


def _replicas(default: int, what: str) -> Any:
    return Field(default, ge=0, le=REPLICAS_MAX, description=f"{what}: 0 to {REPLICAS_MAX}")


class SiteSpec(SpecModel):
    site: Name
    min: int = _replicas(1, "the fewest replicas kept at the site")
    max: int = _replicas(1, "the most replicas autoscaling may run at the site")


class PlacementSpec(SpecModel):
    """Sites chosen by the control plane: the cheapest ``sites`` that meet the SLO."""

    sites: int = Field(1, ge=1, le=64, description="how many sites: 1 to 64")
    min: int = _replicas(1, "the fewest replicas kept at each site")
    max: int = _replicas(1, "the most replicas autoscaling may run at each site")


class EndpointResources(SpecModel):
    accelerators: str | list[str] | None = Field(
        None, description=f"{GRAMMAR}, a list of them, or absent for CPU-only replicas"
    )
    cpus: Positive = 1.0
    memory_gib: Positive = 1.0

    @field_validator("accelerators", mode="before")
    @classmethod
    def _string_or_list(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
        raise ValueError("expected an accelerator string or a non-empty list of them")


class AutoscaleSpec(SpecModel):
    metric: Literal["in_flight", "p95_ms"] = Field(
        "in_flight", description="in_flight (requests per replica), p95_ms (latency)"
    )
    target: Positive = 4.0
    scale_down_after: float = Field(
        60.0, ge=0, description="seconds a low load must last before a scale down (>= 0)"
    )


class VersionWeight(SpecModel):
    version: ModelRef = Field(description=MODEL_ALLOWED)
    weight: float = Field(ge=0, le=1, description="a share of requests from 0 to 1")


class TrafficSpec(SpecModel):
    canary: VersionWeight | None = None
    shadow: VersionWeight | None = None


class AccessSpec(SpecModel):
    teams: list[Name] = Field(default_factory=list, description="team names")
    principals: list[Name] = Field(default_factory=list, description="principal names")
    tokens: list[Text] = Field(default_factory=list, description="token ids")


class LimitsSpec(SpecModel):
    requests_per_s: Positive | None = None
    burst: int | None = Field(None, ge=1, description="a whole number >= 1")
    requests_per_day: int | None = Field(None, ge=1, description="a whole number >= 1")
    tokens_per_day: int | None = Field(None, ge=1, description="a whole number >= 1")


PII_TYPES_ALLOWED = ", ".join(sorted(PII_TYPES))


class GuardsSpec(SpecModel):
    """Each guard's action at the gateway; a guard left out does not run. Redact is an action
    for PII only: an injection or a leaked canary cannot be replaced by a placeholder."""

    injection: Literal["block", "flag"] | None = Field(
        None, description="block or flag (redact is not an action for injection)"
    )
    pii: Literal["block", "redact", "flag"] | None = Field(
        None, description="block, redact or flag"
    )
    pii_types: list[str] = Field(
        default_factory=list,
        max_length=len(PII_TYPES),
        description=f"a list of PII types: {PII_TYPES_ALLOWED}",
    )
    restore_pii: bool = Field(True, description="true or false")
    output_pii: Literal["block", "redact", "flag"] | None = Field(
        None, description="block, redact or flag"
    )
    canary: Literal["block", "flag"] | None = Field(
        None, description="block or flag (redact is not an action for canary)"
    )

    @field_validator("pii_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in PII_TYPES]
        if unknown:
            raise ValueError(f"unknown PII type {unknown[0]!r}: one of {PII_TYPES_ALLOWED}")
        return value


class EndpointDocument(SpecModel):
    # ``kind: Endpoint`` marks the document; a bare one is read the same.
    kind: Literal["Endpoint"] | None = Field(None, description="Endpoint (or leave it out)")
    name: Name
    team: Name
    protocol: Literal["oip", "openai"] = Field(
        "oip", description="oip (the Open Inference Protocol), openai"
    )
    model: ModelRef | None = Field(None, description=MODEL_ALLOWED)
    command: str | None = Field(
        None,
        min_length=1,
        max_length=RUN_MAX_CHARS,
        description=f"a shell command that serves on $AIPLANE_PORT (at most {RUN_MAX_CHARS})",
    )
    sites: list[SiteSpec] = Field(
        default_factory=list, max_length=64, description="a list of {site, min, max}"
    )
    placement: PlacementSpec | None = None
    latency_slo_ms: dict[str, Positive] = Field(
        default_factory=dict,
        description="a mapping of user region -> milliseconds (numbers > 0)",
    )
    resources: EndpointResources = Field(default_factory=EndpointResources)
    autoscale: AutoscaleSpec = Field(default_factory=AutoscaleSpec)
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    access: AccessSpec = Field(default_factory=AccessSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    guards: GuardsSpec = Field(default_factory=GuardsSpec)
    workdir: str | None = Field(
        None,
        max_length=PATH_MAX_CHARS,
        description="where a command endpoint's command runs (relative: to the file's folder)",
    )
    readiness_path: str | None = Field(
        None,
        pattern=r"^/\S*$",
        max_length=PATH_MAX_CHARS,
        description="an HTTP path starting with '/' (default: the protocol's own)",
    )
    drain: float = Field(
        10.0, ge=0, le=3600, description="seconds a drained replica may finish (0 to 3600)"
    )
    env: dict[str, EnvValue] = Field(
        default_factory=dict,
        max_length=ENV_MAX_VARIABLES,
        description=f"a mapping of variable name -> value, at most {ENV_MAX_VARIABLES} of them",
    )
    labels: dict[Name, LabelValue] = Field(
        default_factory=dict, description="a mapping of label -> value"
    )

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        """Numbers and booleans in YAML are written as the strings a shell would see."""
        if not isinstance(value, dict):
            return value
        return {key: _as_shell_text(item) for key, item in value.items()}
