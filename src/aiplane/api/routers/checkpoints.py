"""Checkpoints reported by a running workload: ``POST /jobs/{job_id}/checkpoints``."""

from __future__ import annotations

from fastapi import APIRouter, status

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.wire.jobs import CheckpointIn, CheckpointOut

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=AUTHENTICATED)


@router.post(
    "/{job_id}/checkpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckpointOut,
    # 409: the job has no running attempt to credit.
    responses=responses(400, 404, 409, 422),
)
def report(job_id: str, body: CheckpointIn, svc: Svc, caller: Authenticated) -> CheckpointOut:
    run = svc.jobs.report_checkpoint(caller, job_id, body.uri, body.saved_at)
    return CheckpointOut(
        job_id=job_id,
        run_id=run.id,
        attempt=run.attempt,
        last_checkpoint_at=run.last_checkpoint_at,
        checkpoint_uri=run.checkpoint_uri,
    )
