"""Endpoints: a model version (or a command) served at one or more sites behind the gateway.

An endpoint's replicas are jobs of kind ``serve`` (one job per replica, labelled with the
endpoint, its site and its role) that the scheduler places and the cost engine meters like any
other run; the endpoint service keeps their number between each site's bounds. This module is
the endpoint as applied: what the user asked for, checked, with no state of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aiplane.core.guards.policy import GuardPolicy
from aiplane.core.workloads import AcceleratorOption


class Protocol(StrEnum):
    OIP = "oip"  # the Open Inference Protocol (KServe v2 / Triton REST)
    OPENAI = "openai"  # an OpenAI-compatible server: /v1/chat/completions, /v1/completions, ...


class Role(StrEnum):
    """What a replica serves of the endpoint's traffic."""

    PRIMARY = "primary"
    CANARY = "canary"  # a weight of live traffic, its answers returned
    SHADOW = "shadow"  # a copy of a weight of live traffic, its answers dropped


class ScaleMetric(StrEnum):
    IN_FLIGHT = "in_flight"  # mean requests in flight per replica
    P95_MS = "p95_ms"  # the replicas' p95 latency, in milliseconds


# The label keys that tie a serve job to its endpoint (jobs carry them in ``labels``).
LABEL_ENDPOINT = "aiplane.endpoint"
LABEL_SITE = "aiplane.endpoint.site"
LABEL_ROLE = "aiplane.endpoint.role"
LABEL_VERSION = "aiplane.endpoint.version"  # "fraud@3", or "command" for a command endpoint
LABEL_GENERATION = "aiplane.endpoint.generation"

# Where a replica's command finds its port: the backend sets it for a serving replica.
PORT_ENV = "AIPLANE_PORT"


@dataclass(frozen=True)
class SiteReplicas:
    """A site the endpoint serves from, with the bounds on its replicas there."""

    site: str
    min_replicas: int = 1
    max_replicas: int = 1


@dataclass(frozen=True)
class AutoPlacement:
    """Sites chosen by placement rather than named: ``sites`` of them, the cheapest that meet
    the endpoint's SLO for the regions it names (``EndpointSpec.latency_slo_ms``)."""

    sites: int = 1
    min_replicas: int = 1
    max_replicas: int = 1


@dataclass(frozen=True)
class Autoscale:
    metric: ScaleMetric = ScaleMetric.IN_FLIGHT
    target: float = 4.0
    # How long a load must last before a scale down (scale up acts at once).
    scale_down_after_s: float = 60.0


@dataclass(frozen=True)
class Traffic:
    """A second version beside the primary: ``canary`` takes ``canary_weight`` of requests
    (0 to 1), ``shadow`` gets a copy of ``shadow_weight`` of them. Versions are registry
    references of the endpoint's model (``fraud@4``, ``fraud@candidate``)."""

    canary: str | None = None
    canary_weight: float = 0.0
    shadow: str | None = None
    shadow_weight: float = 0.0


@dataclass(frozen=True)
class Access:
    """Who may invoke the endpoint besides the members of its own team: other teams (any
    role), principals by name, and tokens by id."""

    teams: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyLimits:
    """Per key (token): a token bucket (``requests_per_s`` refilled, ``burst`` deep) and, for
    LLM endpoints, quotas per UTC day. None: no limit."""

    requests_per_s: float | None = None
    burst: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    team: str
    protocol: Protocol = Protocol.OIP
    # One of the two: a registry reference served by aiplane's model server, or a shell
    # command of another server (vLLM, a custom one) that listens on $AIPLANE_PORT.
    model: str | None = None
    command: str | None = None
    sites: tuple[SiteReplicas, ...] = ()
    placement: AutoPlacement | None = None  # when ``sites`` is empty
    # The p95 latency each user region must see, in ms ("eu-west": 50).
    latency_slo_ms: Mapping[str, float] = field(default_factory=dict)
    cpus: float = 1.0
    memory_gib: float = 1.0
    accelerators: tuple[AcceleratorOption, ...] = ()
    autoscale: Autoscale = field(default_factory=Autoscale)
    traffic: Traffic = field(default_factory=Traffic)
    access: Access = field(default_factory=Access)
    limits: KeyLimits = field(default_factory=KeyLimits)
    guards: GuardPolicy = field(default_factory=GuardPolicy)
    # The HTTP path that answers 200 when a replica is ready; None: the protocol's own.
    readiness_path: str | None = None
    # How long a drained replica may finish its requests before it is stopped.
    drain_s: float = 10.0
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    # Where a command endpoint's command runs (an absolute path on the machine that runs
    # it); None: a folder of the backend's.
    workdir: str | None = None

    @property
    def probe_path(self) -> str:
        if self.readiness_path is not None:
            return self.readiness_path
        return "/v2/health/ready" if self.protocol is Protocol.OIP else "/v1/models"


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as stored: the spec last applied and its bookkeeping. ``generation`` goes
    up by one each time a changed spec is applied."""

    spec: EndpointSpec
    created_at: float
    updated_at: float
    created_by: str  # the principal's name
    generation: int = 1

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def team(self) -> str:
        return self.spec.team
