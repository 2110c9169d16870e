"""What a scheduling policy may decide. A separate step applies the decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.runs import Placement


@dataclass(frozen=True)
class Place:
    """Admit the run and start it on ``placement``."""

    run_id: str
    placement: Placement


@dataclass(frozen=True)
class Wait:
    """Keep the run queued; ``reason`` and ``explanation`` say why."""

    run_id: str
    reason: str
    explanation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preempt:
    """Stop a running run so that ``for_run_id`` can start; it goes back to the queue and
    resumes from its last checkpoint."""

    run_id: str
    for_run_id: str
    reason: str
    lost_gpu_hours: float = 0.0
    # The lending team, when the run is preempted to give it back quota the run borrowed:
    # the requeued run is then held off that quota for a while (``reclaim``).
    reclaimed_by: str | None = None


@dataclass(frozen=True)
class Provision:
    """Bring up ``nodes`` of an elastic pool (emitted with the placement that needs them)."""

    pool: str
    nodes: tuple[str, ...]
    for_run_id: str


@dataclass(frozen=True)
class Release:
    """Give back idle nodes of an elastic pool above its minimum."""

    pool: str
    nodes: tuple[str, ...]
    reason: str


Decision = Place | Wait | Preempt | Provision | Release
