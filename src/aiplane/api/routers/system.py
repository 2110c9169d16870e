"""Health, identity and tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED
from aiplane.wire.system import Health, TokenIn, TokenOut, WhoAmI

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health(svc: Svc) -> Health:
    """Unauthenticated liveness check (no data beyond the version and the process id)."""
    h = svc.system.health()
    return Health(status=h.status, version=h.version, pid=h.pid)


@router.get("/whoami", response_model=WhoAmI, responses=AUTHENTICATED)
def whoami(caller: Authenticated) -> WhoAmI:
    p = caller.principal
    return WhoAmI(
        name=p.name, kind=p.kind, global_role=p.global_role, teams=caller.teams(), via=caller.via
    )


@router.post(
    "/tokens",
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    responses=AUTHENTICATED,
)
def new_token(body: TokenIn, svc: Svc, caller: Authenticated) -> TokenOut:
    record, plaintext, holder = svc.identity.create_token(
        caller, body.name, body.principal, body.expires_in_s
    )
    return TokenOut(
        id=record.id,
        name=record.name,
        principal=holder.name,
        created_at=record.created_at,
        expires_at=record.expires_at,
        token=plaintext,
    )
