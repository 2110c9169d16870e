"""The seam every scheduling policy plugs into."""

from __future__ import annotations

from typing import Protocol

from aiplane.core.scheduling.decisions import Decision
from aiplane.core.scheduling.snapshot import Snapshot


class SchedulingPolicy(Protocol):
    name: str

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        """Decisions for the snapshot's pending runs. Must not mutate the snapshot."""
        ...
