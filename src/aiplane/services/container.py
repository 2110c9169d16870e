"""The services an edge is given: one object per use-case family, built by ``wiring.py``.

The API and the dashboard and gateway to come receive a :class:`Services` and nothing else of
the process: no store, no adapter, no loop. With :mod:`aiplane.services.types` (what the
services answer with), this module is all of ``services`` that an edge may import (a contract
in ``pyproject.toml``); the service classes are named here for the edges' annotations.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.services.access import Access
from aiplane.services.artifacts import ArtifactService
from aiplane.services.audit import AuditLog
from aiplane.services.audit_service import AuditService
from aiplane.services.cost_service import CostService
from aiplane.services.datasets import DatasetService
from aiplane.services.endpoint_types import EndpointView, ReplicaView, SiteRoleView
from aiplane.services.endpoints import EndpointService
from aiplane.services.fleet import FleetService
from aiplane.services.identity import IdentityService
from aiplane.services.imports import ImportService
from aiplane.services.jobs import JobService
from aiplane.services.lineage import LineageService
from aiplane.services.metrics import MetricsService
from aiplane.services.models import ModelService
from aiplane.services.placements import PlacementService
from aiplane.services.policies import PolicyService
from aiplane.services.promotion import PromotionService
from aiplane.services.serving_ports import GatewayControl
from aiplane.services.system import SystemService

__all__ = [
    "Access",
    "ArtifactService",
    "AuditLog",
    "AuditService",
    "CostService",
    "DatasetService",
    "EndpointService",
    "EndpointView",
    "FleetService",
    "GatewayControl",
    "IdentityService",
    "ImportService",
    "JobService",
    "LineageService",
    "MetricsService",
    "ModelService",
    "PlacementService",
    "PolicyService",
    "PromotionService",
    "ReplicaView",
    "Services",
    "SiteRoleView",
    "SystemService",
]


@dataclass(frozen=True)
class Services:
    jobs: JobService
    placements: PlacementService
    fleet: FleetService
    costs: CostService
    identity: IdentityService
    access: Access
    audit: AuditLog  # what services write through (no check: they are the control plane)
    audit_service: AuditService  # reading the log, for the edges (admins)
    system: SystemService
    metrics: MetricsService
    # The model and dataset registry.
    artifacts: ArtifactService
    models: ModelService
    promotion: PromotionService
    policies: PolicyService
    datasets: DatasetService
    lineage: LineageService
    imports: ImportService
    # Serving: endpoints and the gateway's port on the control plane (in process).
    endpoints: EndpointService
    gateway: GatewayControl
