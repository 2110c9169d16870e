"""Principals, team memberships and token listings on the wire (``/users``, ``/teams``,
``/tokens``). A token listing never carries a token's hash or plaintext: its ``prefix``
is enough to recognise it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from aiplane.core.auth import GlobalRole, PrincipalKind, TeamRole

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class PrincipalIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="unique; lowercase letters, digits, . _ -")
    kind: PrincipalKind = PrincipalKind.USER
    global_role: GlobalRole | None = None
    email: str | None = Field(None, max_length=254)


class PrincipalPatch(BaseModel):
    """Only the fields given change; ``null`` (or ``"none"``) clears the global role, ``null``
    or ``""`` the e-mail."""

    global_role: GlobalRole | Literal["none"] | None = None
    disabled: bool | None = None
    email: str | None = Field(None, max_length=254)


class PrincipalOut(BaseModel):
    id: str
    name: str
    kind: PrincipalKind
    global_role: GlobalRole | None = None
    teams: dict[str, TeamRole] = Field(default_factory=dict)
    email: str | None = None
    sso: bool = Field(False, description="bound to an OIDC identity")
    disabled: bool = False
    created_at: float


class MemberIn(BaseModel):
    role: TeamRole


class MemberOut(BaseModel):
    team: str
    name: str
    kind: PrincipalKind
    role: TeamRole
    disabled: bool = False


class TokenItem(BaseModel):
    id: str
    name: str
    principal: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    state: str = Field(description="active, expired or revoked")
    scope_team: str | None = Field(None, description="a workload's token: its team")
    scope_job_id: str | None = Field(None, description="a workload's token: its job")
