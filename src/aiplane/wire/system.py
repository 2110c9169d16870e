"""Health, identity and tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field

from aiplane.core.auth import GlobalRole, PrincipalKind, TeamRole


class Health(BaseModel):
    status: str = Field(description="ok")
    version: str
    pid: int = Field(description="the server's process id, for local discovery")


class WhoAmI(BaseModel):
    name: str
    kind: PrincipalKind
    global_role: GlobalRole | None = None
    teams: dict[str, TeamRole] = Field(default_factory=dict)
    via: str = Field("token", description="token or oidc")
    email: str | None = None
    token_id: str | None = Field(None, description="the token this call was made with")
    scope_job_id: str | None = Field(None, description="a workload's token: its job")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    principal: str | None = Field(None, description="whose token; default the caller's own")
    expires_in_s: float | None = Field(None, gt=0, description="lifetime; default none")


class TokenOut(BaseModel):
    id: str
    name: str
    principal: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    prefix: str = ""
    token: str | None = Field(None, description="shown once, at creation")
