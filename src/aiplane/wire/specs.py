"""A fleet or workload document sent for validation and storage."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SpecBody(BaseModel):
    """A fleet or workload spec as JSON (the YAML document, parsed)."""

    spec: dict[str, Any] = Field(description="the document, as in fleet.yaml / workload.yaml")
    source: str = Field("request body", description="file name to show in error messages")
    workdir: str | None = Field(
        None, description="working directory for the workload's command (local execution)"
    )
