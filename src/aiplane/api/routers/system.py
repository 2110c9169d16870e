"""Health, identity and tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from aiplane import __version__
from aiplane.api.deps import CP, Admin, Viewer
from aiplane.services.tokens import create_token
from aiplane.wire.system import Health, TokenIn, TokenOut, WhoAmI

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health(cp: CP) -> Health:
    """Unauthenticated liveness check (no data beyond the version and the process id)."""
    return Health(status="ok", version=__version__, pid=cp.pid)


@router.get("/whoami", response_model=WhoAmI)
def whoami(caller: Viewer) -> WhoAmI:
    return WhoAmI(name=caller.name, role=caller.role)


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def new_token(body: TokenIn, cp: CP, _: Admin) -> TokenOut:
    record, plaintext = create_token(cp.store, body.name, body.role, cp.clock())
    return TokenOut(id=record.id, name=record.name, role=record.role, token=plaintext)
