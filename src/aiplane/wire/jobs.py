"""Jobs, their runs' placements, events, explanations and logs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PlacementOut(BaseModel):
    site: str
    pool: str
    backend: str
    accelerator: str | None
    emulated: bool
    usd_per_hour: float
    nodes: list[str]


class JobOut(BaseModel):
    id: str
    name: str
    team: str
    kind: str
    priority: int
    replicas: int
    state: str
    attempt: int
    submitted_at: float
    submitted_by: str
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    reason: str | None
    placement: PlacementOut | None
    workload: dict[str, Any] | None = None


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(None, description="pass as `before` for the next page")


class EventOut(BaseModel):
    id: int | None
    at: float
    kind: str
    message: str
    run_id: str | None
    data: dict[str, Any]


class ExplanationOut(BaseModel):
    job_id: str
    state: str
    reason: str | None
    placement: dict[str, Any] | None
    decisions: list[EventOut]


class ReplicaLog(BaseModel):
    replica: int
    text: str


class LogsOut(BaseModel):
    job_id: str
    replicas: list[ReplicaLog]


class CheckpointIn(BaseModel):
    """A running workload saying it saved a checkpoint (``POST /jobs/{id}/checkpoints``)."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = Field(None, description="where the checkpoint is (a path or URL)")
    saved_at: float | None = Field(
        None, description="when it was saved, epoch seconds; default: now"
    )


class CheckpointOut(BaseModel):
    job_id: str
    run_id: str
    attempt: int
    last_checkpoint_at: float | None
    checkpoint_uri: str | None


# Submission headers (decision 0034). A client sends IDEMPOTENCY_KEY with a submission, a fresh
# value per intended job, and the same value again when it retries; the server sets
# IDEMPOTENT_REPLAYED to "true" on the answer to a retry, which names the job the first
# request created.
IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"
# The error code of a 409 answered while a request with the same key is still being processed.
KEY_IN_FLIGHT = "idempotency_key_in_flight"
