"""One record of the inference log: a request an endpoint served, with its features and its
prediction, as the drift monitors will read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.serving.endpoints import Role


@dataclass(frozen=True)
class InferenceRecord:
    request_id: str
    endpoint: str
    version: str  # "fraud@3", or "command"
    role: Role
    site: str
    at: float  # epoch seconds when the request arrived
    latency_ms: float
    status: int  # the HTTP status returned to the caller
    principal: str | None = None
    # What was asked and answered, as JSON values: the inputs of an OIP request by name (or an
    # OpenAI request's body), and the outputs (or the response's usage and choices).
    features: Mapping[str, Any] = field(default_factory=dict)
    prediction: Mapping[str, Any] = field(default_factory=dict)
