"""What the endpoint service answers with: an endpoint with its replicas, per site and role.

Named for the edges through ``services.container`` (the only service modules they import)."""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.core.events import Event
from aiplane.core.runs import RunState
from aiplane.core.serving.endpoints import Endpoint, Role


@dataclass(frozen=True)
class ReplicaView:
    job_id: str
    run_id: str
    state: RunState
    version: str  # "fraud@3", or "command"
    generation: int
    pool: str | None  # None until placed
    address: str | None
    ready: bool
    draining: bool
    usd_per_hour: float = 0.0
    # Why the gateway refuses to serve its model version (decision 0069); None: it may.
    refused: str | None = None


@dataclass(frozen=True)
class SiteRoleView:
    """One site and role of an endpoint: what the reconciler wants there, what runs."""

    site: str
    role: Role
    version: str | None  # the version it serves now; None: the reference does not resolve
    wanted: int
    replicas: tuple[ReplicaView, ...]
    reason: str = ""  # why ``wanted`` (autoscaling, a budget's cap)

    @property
    def running(self) -> int:
        return sum(r.state is RunState.RUNNING for r in self.replicas)

    @property
    def ready(self) -> int:
        return sum(r.ready for r in self.replicas)


@dataclass(frozen=True)
class EndpointView:
    endpoint: Endpoint
    sites: tuple[SiteRoleView, ...] = ()
    events: tuple[Event, ...] = ()
    # Where the sites are chosen by placement and none meets the SLO: why (else "").
    problem: str = ""
