"""What the services answer with: the result types the edges render.

The API and the dashboard and gateway to come import these (and the ``Services`` container)
and no other service module (an import contract in ``pyproject.toml``), so a use case is
reached through its service object only (decision 0018). Core types and the services'
results, nothing that reads or writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiplane.core.cost.allocation import IdleCost
from aiplane.core.cost.budgets import BudgetStatus
from aiplane.core.cost.forecast import Forecast
from aiplane.core.cost.rollup import RollupRow
from aiplane.core.events import Event
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Placement, Run
from aiplane.store.base import FleetRecord


@dataclass(frozen=True)
class JobView:
    job: Job
    run: Run


@dataclass(frozen=True)
class Submission:
    """A submission's answer: the job, and whether it was created by an earlier request with
    the same idempotency key (a replay) rather than by this one."""

    view: JobView
    replayed: bool


@dataclass(frozen=True)
class Explanation:
    view: JobView
    decisions: list[Event]


@dataclass(frozen=True)
class PlacementPreview:
    """Where a workload would go on the free capacity at ``at`` (``PlacementService.preview``):
    its ``placement`` (None: it would wait, for ``reason``) and the engine's ``explanation`` as
    the engine wrote it (the chosen offer's ``describe()``, ``why``, ``rejected`` with
    ``rejected_total``, ``provisioned``, ``preempted``). ``queue_ignored`` runs were waiting
    and were not counted ahead of it. Nothing of it is stored."""

    at: float
    placement: Placement | None
    reason: str | None
    explanation: Mapping[str, Any]
    queue_ignored: int

    @property
    def placed(self) -> bool:
        return self.placement is not None


@dataclass(frozen=True)
class PoolUsage:
    pool: str
    nodes: int
    gpus_total: float
    gpus_used: float
    cpus_total: float
    cpus_used: float
    active_runs: int


@dataclass(frozen=True)
class FleetState:
    """The fleet in force as stored (version, document) with each pool's usage."""

    record: FleetRecord
    fleet: Fleet
    usage: Mapping[str, PoolUsage]


@dataclass(frozen=True)
class BudgetView:
    status: BudgetStatus
    forecast: Forecast


@dataclass(frozen=True)
class CostReport:
    by: str
    start: float
    end: float
    rows: list[RollupRow]
    idle: list[IdleCost]
    idle_shares: dict[str, dict[str, float]]

    @property
    def usage_usd(self) -> float:
        return sum(r.usd for r in self.rows)

    @property
    def idle_usd(self) -> float:
        return sum(i.idle_usd for i in self.idle)


class ExportFormat(StrEnum):
    FOCUS_CSV = "focus"
    FOCUS_PARQUET = "focus-parquet"


@dataclass(frozen=True)
class Export:
    """A file: its media type, a suggested name, and its bytes in chunks."""

    media_type: str
    filename: str
    chunks: Iterator[bytes]
