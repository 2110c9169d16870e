"""The audit log (admins): search it, verify its chain, export it as JSON lines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.routers.costs import parse_time
from aiplane.core.audit import AuditEntry, AuditHead, Verification, record_dict
from aiplane.wire.audit import AuditEntryOut, AuditHeadOut, VerificationOut

router = APIRouter(prefix="/audit", tags=["audit"], responses=AUTHENTICATED)

NDJSON = "application/x-ndjson"


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=entry.seq,
        **record_dict(entry.record),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
        key_id=entry.key_id,
        signature=entry.signature,
    )


def head_out(head: AuditHead | None) -> AuditHeadOut | None:
    return AuditHeadOut(seq=head.seq, hash=head.hash) if head is not None else None


def verification_out(v: Verification) -> VerificationOut:
    return VerificationOut(
        ok=v.ok, checked=v.checked, head=head_out(v.head), first_bad=v.first_bad, problem=v.problem
    )


@router.get("", response_model=list[AuditEntryOut], responses=responses(422))
def search(
    svc: Svc,
    caller: Authenticated,
    since: Annotated[
        str | None, Query(description="from: ISO date or time (UTC), or epoch seconds")
    ] = None,
    actor: Annotated[str | None, Query(description="a principal's name")] = None,
    resource: Annotated[
        str | None, Query(description="kind/id, or a prefix ending in / (job/)")
    ] = None,
    limit: Annotated[int, Query(description="the newest this many, 1 to 1000")] = 100,
) -> list[AuditEntryOut]:
    """The newest entries that match, oldest first."""
    found = svc.audit_service.entries_for(
        caller, parse_time(since, "since"), actor, resource, limit
    )
    return [entry_out(e) for e in found]


@router.get("/verify", response_model=VerificationOut, responses=responses(422))
def verify(
    svc: Svc,
    caller: Authenticated,
    expect: Annotated[
        str | None,
        Query(description="SEQ:HASH, a head recorded earlier: the log must still hold it"),
    ] = None,
) -> VerificationOut:
    """Check every entry's hash, link and signature, and the head. A broken log is an answer
    (ok false, the first bad entry and why), not an error."""
    expected = svc.audit_service.parse_head(expect) if expect is not None else None
    return verification_out(svc.audit_service.verify_for(caller, expected))


EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "every entry, one JSON object a line, in sequence order",
        "content": {NDJSON: {"schema": {"type": "string"}}},
    }
}


@router.get("/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
def export(svc: Svc, caller: Authenticated) -> StreamingResponse:
    lines = svc.audit_service.export_for(caller)
    return StreamingResponse(
        (line.encode() for line in lines),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="aiplane-audit.jsonl"'},
    )
