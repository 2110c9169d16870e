"""What a scheduling policy may decide for a pending run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.runs import Placement


@dataclass(frozen=True)
class Place:
    run_id: str
    placement: Placement


@dataclass(frozen=True)
class Wait:
    """Keep the run queued; ``reason`` and ``explanation`` say why."""

    run_id: str
    reason: str
    explanation: Mapping[str, Any] = field(default_factory=dict)


Decision = Place | Wait
