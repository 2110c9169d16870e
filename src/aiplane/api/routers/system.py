"""Health, identity and tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from aiplane.api.deps import Admin, Svc, Viewer
from aiplane.api.errors import AUTHENTICATED
from aiplane.wire.system import Health, TokenIn, TokenOut, WhoAmI

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health(svc: Svc) -> Health:
    """Unauthenticated liveness check (no data beyond the version and the process id)."""
    h = svc.system.health()
    return Health(status=h.status, version=h.version, pid=h.pid)


@router.get("/whoami", response_model=WhoAmI, responses=AUTHENTICATED)
def whoami(caller: Viewer) -> WhoAmI:
    return WhoAmI(name=caller.name, role=caller.role)


@router.post(
    "/tokens",
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    responses=AUTHENTICATED,
)
def new_token(body: TokenIn, svc: Svc, _: Admin) -> TokenOut:
    record, plaintext = svc.tokens.create(body.name, body.role)
    return TokenOut(id=record.id, name=record.name, role=record.role, token=plaintext)
