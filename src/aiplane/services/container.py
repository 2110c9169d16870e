"""The services an edge is given: one object per use-case family, built by ``wiring.py``.

The API, the CLI's server-side counterpart and the dashboard and gateway to come receive a
:class:`Services` and nothing else of the process: no store, no adapter, no loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.services.cost_service import CostService
from aiplane.services.fleet import FleetService
from aiplane.services.jobs import JobService
from aiplane.services.metrics import MetricsService
from aiplane.services.system import SystemService
from aiplane.services.tokens import TokenService


@dataclass(frozen=True)
class Services:
    jobs: JobService
    fleet: FleetService
    costs: CostService
    tokens: TokenService
    system: SystemService
    metrics: MetricsService
