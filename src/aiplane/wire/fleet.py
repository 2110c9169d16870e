"""The fleet in force and how full its pools are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
