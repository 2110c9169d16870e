"""Request and response bodies of the API (documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from aiplane.core.auth import Role


class SpecBody(BaseModel):
    """A fleet or workload spec as JSON (the YAML document, parsed)."""

    spec: dict[str, Any] = Field(description="the document, as in fleet.yaml / workload.yaml")
    source: str = Field("request body", description="file name to show in error messages")
    workdir: str | None = Field(
        None, description="working directory for the workload's command (local execution)"
    )


class PlacementOut(BaseModel):
    site: str
    pool: str
    backend: str
    accelerator: str | None
    emulated: bool
    usd_per_hour: float
    nodes: list[str]


class JobOut(BaseModel):
    id: str
    name: str
    team: str
    kind: str
    priority: int
    replicas: int
    state: str
    attempt: int
    submitted_at: float
    submitted_by: str
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    reason: str | None
    placement: PlacementOut | None
    workload: dict[str, Any] | None = None


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(None, description="pass as `before` for the next page")


class EventOut(BaseModel):
    id: int | None
    at: float
    kind: str
    message: str
    run_id: str | None
    data: dict[str, Any]


class ExplanationOut(BaseModel):
    job_id: str
    state: str
    reason: str | None
    placement: dict[str, Any] | None
    decisions: list[EventOut]


class LogsOut(BaseModel):
    job_id: str
    replicas: list[dict[str, Any]]


class PoolOut(BaseModel):
    site: str
    site_kind: str
    jurisdiction: str
    pool: str
    backend: str
    emulated: bool
    accelerator: str | None
    gpus_per_node: int
    nodes_min: int
    nodes_max: int
    pricing: str
    usd_per_node_hour: float
    price_source: str
    gpus_used: float
    gpus_total: float
    active_runs: int


class FleetOut(BaseModel):
    version: int | None
    applied_at: float | None
    pools: list[PoolOut]
    document: dict[str, Any] | None = None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    token: str | None = Field(None, description="shown once, at creation")


class WhoAmI(BaseModel):
    name: str
    role: Role
