"""Principals (``/users``), team memberships (``/teams/{team}/members``) and token listing
and revocation (``/tokens``). The routes check no role: the identity service asks the policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.core.auth import Principal, PrincipalKind, TeamRole, TokenRecord
from aiplane.wire.identity import (
    MemberIn,
    MemberOut,
    PrincipalIn,
    PrincipalOut,
    PrincipalPatch,
    TokenItem,
)

router = APIRouter(tags=["identity"], responses=AUTHENTICATED)
# A route that names a principal, a team or a token (and so takes a path parameter).
NAMED = responses(404, 422)


@router.get("/users", response_model=list[PrincipalOut])
def list_users(svc: Svc, caller: Authenticated) -> list[PrincipalOut]:
    """Every principal (admins)."""
    return [principal_out(p) for p in svc.identity.list_principals(caller)]


@router.post(
    "/users",
    response_model=PrincipalOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 409, 422),
)
def create_user(body: PrincipalIn, svc: Svc, caller: Authenticated) -> PrincipalOut:
    """A user or a service account (admins); give it a token with ``POST /tokens``."""
    created = svc.identity.create_principal(
        caller, body.name, body.kind, global_role=body.global_role, email=body.email
    )
    return principal_out(created)


@router.get("/users/{name}", response_model=PrincipalOut, responses=NAMED)
def show_user(name: str, svc: Svc, caller: Authenticated) -> PrincipalOut:
    """One principal: admins read anyone, everyone else themselves."""
    return principal_out(svc.identity.get_principal(caller, name))


@router.patch(
    "/users/{name}", response_model=PrincipalOut, responses={**NAMED, **responses(400, 409)}
)
def update_user(name: str, body: PrincipalPatch, svc: Svc, caller: Authenticated) -> PrincipalOut:
    """Change the global role, the e-mail, or disable (admins). A disabled principal's
    tokens are refused at once."""
    given = body.model_fields_set
    # An explicit null clears; a field left out stays as it is.
    role = body.global_role or ("none" if "global_role" in given else None)
    email = body.email if body.email is not None else ("" if "email" in given else None)
    changed = svc.identity.update_principal(
        caller, name, global_role=role, disabled=body.disabled, email=email
    )
    return principal_out(changed)


@router.get("/teams/{team}/members", response_model=list[MemberOut], responses=NAMED)
def list_members(team: str, svc: Svc, caller: Authenticated) -> list[MemberOut]:
    """The team's members and their roles (its members, operators and admins)."""
    return [member_out(team, m.principal, m.role) for m in svc.identity.members(caller, team)]


@router.put(
    "/teams/{team}/members/{name}", response_model=MemberOut, responses={**NAMED, **responses(400)}
)
def set_member(team: str, name: str, body: MemberIn, svc: Svc, caller: Authenticated) -> MemberOut:
    """Add ``name`` to the team, or change its role (the team's owners, admins)."""
    changed = svc.identity.set_member(caller, team, name, body.role)
    return member_out(team, changed, body.role)


@router.delete(
    "/teams/{team}/members/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NAMED,
)
def remove_member(team: str, name: str, svc: Svc, caller: Authenticated) -> Response:
    """Take ``name`` out of the team (the team's owners, admins)."""
    svc.identity.set_member(caller, team, name, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# 404: no principal of the name given (admins).
@router.get("/tokens", response_model=list[TokenItem], responses=responses(404, 422))
def list_tokens(
    svc: Svc,
    caller: Authenticated,
    principal: Annotated[str | None, Query(description="whose tokens (admins)")] = None,
    every: Annotated[bool, Query(alias="all", description="every principal's (admins)")] = False,
) -> list[TokenItem]:
    """Tokens, newest first: your own, or (admins) another principal's or all."""
    views = svc.identity.list_tokens(caller, principal, every=every)
    return [token_item(v.record, v.principal, v.state) for v in views]


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NAMED,
)
def revoke_token(token_id: str, svc: Svc, caller: Authenticated) -> Response:
    """Revoke a token at once: your own, or (admins) anyone's."""
    svc.identity.revoke_token(caller, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def principal_out(p: Principal) -> PrincipalOut:
    return PrincipalOut(
        id=p.id,
        name=p.name,
        kind=p.kind,
        global_role=p.global_role,
        teams=dict(p.teams),
        email=p.email,
        sso=p.subject is not None,
        disabled=p.disabled,
        created_at=p.created_at,
    )


def member_out(team: str, p: Principal, role: TeamRole) -> MemberOut:
    return MemberOut(
        team=team, name=p.name, kind=PrincipalKind(p.kind), role=role, disabled=p.disabled
    )


def token_item(record: TokenRecord, principal: str, state: str) -> TokenItem:
    return TokenItem(
        id=record.id,
        name=record.name,
        principal=principal,
        prefix=record.prefix,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        state=state,
        scope_team=record.scope.team if record.scope else None,
        scope_job_id=record.scope.job_id if record.scope else None,
    )
