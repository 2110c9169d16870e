"""Endpoints: the spec as applied, and its replicas per site and role."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from aiplane.wire.jobs import EventOut


class ReplicaOut(BaseModel):
    job_id: str
    run_id: str
    state: str
    version: str = Field(description="the version it serves (fraud@3), or command")
    generation: int
    pool: str | None
    address: str | None = Field(description="host:port, once it runs")
    ready: bool
    draining: bool
    usd_per_hour: float
    refused: str | None = Field(
        None,
        description="why the gateway refuses to serve its model version (its signature does "
        "not verify, or its alias moved around the promotion policy); null: it may serve",
    )


class SiteRoleOut(BaseModel):
    site: str
    role: str = Field(description="primary, canary or shadow")
    version: str | None = Field(description="what it serves now; null: nothing resolves")
    wanted: int
    running: int
    ready: int
    reason: str
    replicas: list[ReplicaOut]


class EndpointOut(BaseModel):
    name: str
    team: str
    generation: int
    created_at: float
    updated_at: float
    created_by: str
    spec: dict[str, Any] = Field(
        description="the document last applied, as endpoint.yaml (its guards under 'guards')"
    )
    sites: list[SiteRoleOut]
    events: list[EventOut] = Field(default_factory=list)
    problem: str = ""


class EndpointList(BaseModel):
    items: list[EndpointOut]
