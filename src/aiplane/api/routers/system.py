"""Health, identity and tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.wire.system import Health, TokenIn, TokenOut, WhoAmI

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health(svc: Svc) -> Health:
    """Unauthenticated liveness check (no data beyond the version and the process id)."""
    h = svc.system.health()
    return Health(status=h.status, version=h.version, pid=h.pid)


# Any principal may ask who it is: refused without a token (401), never for its role (403).
@router.get("/whoami", response_model=WhoAmI, responses=responses(401, 503))
def whoami(caller: Authenticated) -> WhoAmI:
    """The caller: principal, roles (stored and, signed in by OIDC, claimed) and credential."""
    p = caller.principal
    return WhoAmI(
        name=p.name,
        kind=p.kind,
        global_role=p.global_role,
        teams=caller.teams(),
        via=caller.via,
        email=p.email,
        token_id=caller.token_id,
        scope_job_id=caller.scope.job_id if caller.scope else None,
    )


@router.post(
    "/tokens",
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    # 404: no such principal to give it to.
    responses={**AUTHENTICATED, **responses(400, 404, 409, 422)},
)
def new_token(body: TokenIn, svc: Svc, caller: Authenticated) -> TokenOut:
    """A token for yourself, or (admins) for another principal. Its plaintext is in this
    answer only: the store keeps its hash."""
    record, plaintext, holder = svc.identity.create_token(
        caller, body.name, body.principal, body.expires_in_s
    )
    return TokenOut(
        id=record.id,
        name=record.name,
        principal=holder.name,
        created_at=record.created_at,
        expires_at=record.expires_at,
        prefix=record.prefix,
        token=plaintext,
    )
