"""A placement preview: where a workload would go now, and what else was considered."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from aiplane.wire.jobs import PlacementOut


class PreviewOut(BaseModel):
    """``POST /placements:preview``: the engine's decision for the workload on the free
    capacity now. Nothing is queued or stored."""

    outcome: Literal["placed", "waiting"] = Field(
        description="placed: it would start now; waiting: it would be queued"
    )
    reason: str | None = Field(description="why it would wait; null when it would be placed")
    placement: PlacementOut | None = Field(description="where it would run; null when waiting")
    explanation: dict[str, Any] = Field(
        description="the engine's, as `jobs explain` shows it: chosen (the offer and its cost "
        "breakdown), why, rejected (at most 50, the most telling first, each with its reason) "
        "and rejected_total, provisioned (nodes an elastic pool would start), preempted"
    )
    queue_ignored: int = Field(
        description="runs waiting now that were not counted ahead of this one: a preview "
        "places the workload on today's free capacity, not behind the queue"
    )
    evaluated_at: float = Field(description="the time of the snapshot, epoch seconds")
