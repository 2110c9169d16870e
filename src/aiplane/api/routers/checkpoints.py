"""Checkpoints reported by a running workload: ``POST /jobs/{job_id}/checkpoints``."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from aiplane.api.deps import Member, Svc

router = APIRouter(prefix="/jobs", tags=["jobs"])


class CheckpointIn(BaseModel):
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


@router.post(
    "/{job_id}/checkpoints", status_code=status.HTTP_201_CREATED, response_model=CheckpointOut
)
def report(job_id: str, body: CheckpointIn, svc: Svc, _: Member) -> CheckpointOut:
    run = svc.jobs.report_checkpoint(job_id, body.uri, body.saved_at)
    return CheckpointOut(
        job_id=job_id,
        run_id=run.id,
        attempt=run.attempt,
        last_checkpoint_at=run.last_checkpoint_at,
        checkpoint_uri=run.checkpoint_uri,
    )
