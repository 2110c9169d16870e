"""Factories for what the endpoints store keeps. As in ``factories.py``, defaults fill every
optional field (with values other than the defaults), so a round trip proves each field is
persisted; the spec stays one the endpoint rules accept (a model, named sites), and
``command_spec`` is its other form (a command, sites chosen by placement)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiplane.core.serving.endpoints import (
    Access,
    AutoPlacement,
    Autoscale,
    Endpoint,
    EndpointSpec,
    KeyLimits,
    Protocol,
    ScaleMetric,
    SiteReplicas,
    Traffic,
)
from aiplane.core.serving.routes import RequestCount
from aiplane.core.workloads import AcceleratorOption

from .factories import HOUR, T0

# The start of the hour T0 falls in: counters are kept per hour.
H0 = (T0 // HOUR) * HOUR


def endpoint_spec(name: str = "fraud", team: str = "research", **changes: Any) -> EndpointSpec:
    full = EndpointSpec(
        name=name,
        team=team,
        protocol=Protocol.OPENAI,
        model="fraud@3",
        command=None,
        sites=(
            SiteReplicas("onprem-fra", min_replicas=1, max_replicas=4),
            SiteReplicas("aws-eu-west-1", min_replicas=0, max_replicas=2),
        ),
        placement=None,
        latency_slo_ms={"eu-west": 50.0, "us-east": 120.5},
        cpus=2.5,
        memory_gib=8.0,
        accelerators=(
            AcceleratorOption("H100-80GB", 1.0, 1.0),
            AcceleratorOption("A100-80GB", 1 / 7, 0.4, mig_profile="1g.10gb"),
        ),
        autoscale=Autoscale(metric=ScaleMetric.P95_MS, target=80.0, scale_down_after_s=90.5),
        traffic=Traffic(
            canary="fraud@4", canary_weight=0.1, shadow="fraud@candidate", shadow_weight=0.25
        ),
        access=Access(teams=("finance", "vis"), principals=("p-carol",), tokens=("t-1", "t-2")),
        limits=KeyLimits(
            requests_per_s=20.5, burst=40, requests_per_day=100_000, tokens_per_day=2_000_000
        ),
        readiness_path="/healthz",
        drain_s=12.5,
        env={"HF_HOME": "/cache/hf", "UNICODE": "Grüße ✓"},
        labels={"cost-center": "4711", "tier": "gold"},
    )
    return replace(full, **changes)


def command_spec(name: str = "chat", team: str = "research", **changes: Any) -> EndpointSpec:
    """The other form: a command of another server, at sites placement chooses."""
    spec = endpoint_spec(
        name,
        team,
        model=None,
        command="vllm serve meta-llama/Llama-3-8B --port $AIPLANE_PORT",
        sites=(),
        placement=AutoPlacement(sites=2, min_replicas=1, max_replicas=3),
        traffic=Traffic(),
    )
    return replace(spec, **changes)


def endpoint(
    name: str = "fraud",
    team: str = "research",
    *,
    generation: int = 1,
    spec: EndpointSpec | None = None,
    **changes: Any,
) -> Endpoint:
    full = Endpoint(
        spec=spec if spec is not None else endpoint_spec(name, team),
        created_at=T0,
        updated_at=T0 + 60.5 * (generation - 1),
        created_by="p-alice",
        generation=generation,
    )
    return replace(full, **changes)


def request_count(
    endpoint: str = "fraud",
    principal: str = "p-bob",
    token_id: str | None = "t-1",  # noqa: S107 (a token's id, not a secret)
    hour: float = H0,
    *,
    team: str = "research",
    requests: int = 10,
    errors: int = 1,
    tokens_in: int = 1000,
    tokens_out: int = 250,
) -> RequestCount:
    return RequestCount(
        endpoint=endpoint,
        team=team,
        principal=principal,
        token_id=token_id,
        hour=hour,
        requests=requests,
        errors=errors,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
    )
