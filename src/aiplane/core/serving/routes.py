"""The routing table the gateway reads, and what it reports back.

The endpoint service builds a :class:`RoutingTable` from the endpoints, their replicas' runs
and the fleet; the gateway routes from the newest one it has and reports, per replica, the load
it saw (:class:`ReplicaLoad`, what autoscaling acts on) and, per key, what it served
(:class:`RequestCount`, what cost per request and quotas count).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiplane.core.serving.endpoints import EndpointSpec, Role


@dataclass(frozen=True)
class SiteRoute:
    name: str
    kind: str  # the site's kind: cloud, on_prem, edge
    # Declared network latency from each user region to the site, ms.
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    # True when the site's replicas run on the emulated backend: the gateway then adds the
    # declared latency to each request itself (labelled as emulated), so routing by latency
    # can be tried on one machine.
    emulated: bool = False


@dataclass(frozen=True)
class ReplicaRoute:
    run_id: str
    site: str
    pool: str
    role: Role
    version: str  # "fraud@3", or "command"
    address: str  # host:port
    ready: bool
    # What the replica's capacity costs per hour, for the tie-break by cost per request.
    usd_per_hour: float = 0.0
    # Why the control plane refuses to serve this replica's model version (its signature
    # does not verify, or its alias moved around the promotion policy); None: it may serve.
    # The gateway routes to no refused replica (decision 0069).
    refused: str | None = None


@dataclass(frozen=True)
class EndpointRoute:
    spec: EndpointSpec
    generation: int
    replicas: tuple[ReplicaRoute, ...] = ()
    sites: Mapping[str, SiteRoute] = field(default_factory=dict)

    def refusal(self) -> str | None:
        """Why nothing here may be served, when every replica is refused (each reason once);
        None when some replica is not refused, or there is none (that is a 503, not a 403)."""
        reasons: list[str] = []
        for replica in self.replicas:
            if replica.refused is None:
                return None
            reasons.append(replica.refused)
        return "; ".join(dict.fromkeys(reasons)) if reasons else None


@dataclass(frozen=True)
class RoutingTable:
    endpoints: Mapping[str, EndpointRoute]
    built_at: float  # epoch seconds

    def endpoint(self, name: str) -> EndpointRoute | None:
        return self.endpoints.get(name)


@dataclass(frozen=True)
class ReplicaLoad:
    """What the gateway saw of one replica over ``window_s`` seconds up to ``at``."""

    endpoint: str
    run_id: str
    at: float
    window_s: float
    in_flight: float  # mean requests in flight over the window
    requests: int
    errors: int
    p95_ms: float | None = None  # None: no request finished in the window


@dataclass(frozen=True)
class RequestCount:
    """Requests one key made of one endpoint in the hour that starts at ``hour``."""

    endpoint: str
    team: str  # the endpoint's team (who pays for the replicas)
    principal: str  # the caller's name
    token_id: str | None
    hour: float  # epoch seconds, a multiple of 3600
    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
