"""Blobs: the bytes of one file each, under their sha256, uploaded in resumable pieces.

The upload protocol is OCI distribution's in spirit: ask which digests are missing, send each
missing blob with ``PUT /blobs/{sha256}?offset=N`` (in one request or several; after an
interruption ``GET /blobs/{sha256}/upload`` says where to resume), then ``POST
/blobs/{sha256}:commit``, which checks the bytes against the digest. Bodies stream through to
the store in chunks: a 5 GB file is never held in memory, and is exempt from the 1 MiB limit
of the JSON bodies (``api/limits.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, READ_ONLY, responses
from aiplane.wire.registry import MissingBody, MissingOut, UploadOut

router = APIRouter(prefix="/blobs", tags=["artifacts"], responses=AUTHENTICATED)
PREFIX = "/api/v1/blobs/"
# What the store is handed at a time: big enough that a write is cheap, small enough that
# every upload in flight holds little.
WRITE_BYTES = 8 * 1024 * 1024


def _state(state: object) -> UploadOut:
    return UploadOut.model_validate(state, from_attributes=True)


@router.post(
    ":missing", response_model=MissingOut, responses=responses(400, 422), openapi_extra=READ_ONLY
)
def missing(body: MissingBody, svc: Svc, caller: Authenticated) -> MissingOut:
    """Which of these blobs the store lacks (upload those)."""
    return MissingOut(missing=svc.artifacts.missing(caller, body.digests))


@router.get("/{sha256}/upload", response_model=UploadOut, responses=responses(404, 422))
def upload_state(sha256: str, svc: Svc, caller: Authenticated) -> UploadOut:
    """How much of an upload the store holds: resume from ``received``."""
    return _state(svc.artifacts.state(caller, sha256))


@router.put("/{sha256}", response_model=UploadOut, responses=responses(404, 409, 422))
async def append(
    sha256: str,
    request: Request,
    svc: Svc,
    caller: Authenticated,
    offset: Annotated[int, Query(ge=0, description="where these bytes go: `received`")] = 0,
) -> UploadOut:
    """Append the body's bytes at ``offset`` (409 when that is not where the upload stands).
    A body cut short (the client's connection dropped) keeps every byte that arrived: the
    client resumes from ``received``."""
    received = offset
    pieces: list[bytes] = []
    held = 0
    state = None
    try:
        async for chunk in request.stream():
            # The chunks themselves are handed on (no copy into one buffer): the store
            # writes them in order.
            pieces.append(chunk)
            held += len(chunk)
            if held >= WRITE_BYTES:
                state = await run_in_threadpool(
                    svc.artifacts.append, caller, sha256, pieces, received
                )
                received, pieces, held = state.received, [], 0
    except ClientDisconnect:
        # Nobody reads the answer; what arrived is kept, as a resumed upload expects.
        if pieces:
            state = await run_in_threadpool(svc.artifacts.append, caller, sha256, pieces, received)
        if state is None:
            state = await run_in_threadpool(svc.artifacts.state, caller, sha256)
        return _state(state)
    if pieces or state is None:
        state = await run_in_threadpool(svc.artifacts.append, caller, sha256, pieces, received)
    return _state(state)


@router.post("/{sha256}:commit", response_model=UploadOut, responses=responses(404, 422))
def commit(sha256: str, svc: Svc, caller: Authenticated) -> UploadOut:
    """Check the uploaded bytes against ``sha256`` and store the blob (422 naming both
    digests when they differ; the upload is then discarded)."""
    return _state(svc.artifacts.commit(caller, sha256))
