"""Events: the append-only record of what happened to jobs, runs and the fleet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # e.g. "job.submitted", "run.placed", "run.state", "fleet.applied"
    message: str
    job_id: str | None = None
    run_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None  # assigned by the store
