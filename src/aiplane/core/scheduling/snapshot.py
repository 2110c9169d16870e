"""The immutable view of the world that one scheduling cycle works on."""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.core.fleet import Fleet
from aiplane.core.resources import Resources
from aiplane.core.workloads import Workload


@dataclass(frozen=True)
class NodeState:
    id: str
    pool: str
    free: Resources
    free_gpu_indices: tuple[int, ...]


@dataclass(frozen=True)
class PendingRun:
    run_id: str
    job_id: str
    workload: Workload
    submitted_at: float
    attempt: int = 1


@dataclass(frozen=True)
class Snapshot:
    fleet: Fleet
    nodes: tuple[NodeState, ...]
    pending: tuple[PendingRun, ...]
    now: float
