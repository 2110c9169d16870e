"""Placements: where a workload would go, without queueing it."""

from __future__ import annotations

from fastapi import APIRouter

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, READ_ONLY, responses
from aiplane.api.views import preview_out
from aiplane.specs import workload_from_document
from aiplane.wire.placements import PreviewOut
from aiplane.wire.specs import SpecBody

router = APIRouter(prefix="/placements", tags=["placements"], responses=AUTHENTICATED)


# 402, 422: what a submission of the same document would be refused with; 409: the running
# work changed while the snapshot was read (preview again).
@router.post(
    ":preview",
    response_model=PreviewOut,
    responses=responses(400, 402, 409, 422),
    openapi_extra=READ_ONLY,
)
def preview(body: SpecBody, svc: Svc, caller: Authenticated) -> PreviewOut:
    """Where the workload (the body of ``POST /jobs``) would be placed on the free capacity
    now, with the chosen offer's cost breakdown and the rejected offers and their reasons; or
    why it would wait. Refused as its submission would be. Nothing is queued or stored, and
    the queue ahead is not counted (``queue_ignored``)."""
    workload = workload_from_document(body.spec, body.source, body.workdir)
    return preview_out(svc.placements.preview(caller, workload))
