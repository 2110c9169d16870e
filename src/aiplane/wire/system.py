"""Health, identity and tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field

from aiplane.core.auth import Role


class Health(BaseModel):
    status: str = Field(description="ok")
    version: str
    pid: int = Field(description="the server's process id, for local discovery")


class WhoAmI(BaseModel):
    name: str
    role: Role


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    token: str | None = Field(None, description="shown once, at creation")
