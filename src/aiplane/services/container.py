"""The services an edge is given: one object per use-case family, built by ``wiring.py``.

The API and the dashboard and gateway to come receive a :class:`Services` and nothing else of
the process: no store, no adapter, no loop. With :mod:`aiplane.services.types` (what the
services answer with), this module is all of ``services`` that an edge may import (a contract
in ``pyproject.toml``); the service classes are named here for the edges' annotations.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.audit_service import AuditService
from aiplane.services.cost_service import CostService
from aiplane.services.fleet import FleetService
from aiplane.services.identity import IdentityService
from aiplane.services.jobs import JobService
from aiplane.services.metrics import MetricsService
from aiplane.services.placements import PlacementService
from aiplane.services.system import SystemService

__all__ = [
    "Access",
    "AuditLog",
    "AuditService",
    "CostService",
    "FleetService",
    "IdentityService",
    "JobService",
    "MetricsService",
    "PlacementService",
    "Services",
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
