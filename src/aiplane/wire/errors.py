"""The one error body every failed request returns: ``{"error": {code, message, problems}}``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProblemOut(BaseModel):
    location: str
    message: str
    given: Any = None
    allowed: Any = None


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: not_found, spec_invalid, ...")
    message: str
    problems: list[ProblemOut] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail
