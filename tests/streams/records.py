"""Inference records for the stream tests."""

from __future__ import annotations

from typing import Any

from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.inference import InferenceRecord

T0 = 1_764_000_000.0


def record(n: int, endpoint: str = "fraud", **changes: Any) -> InferenceRecord:
    fields: dict[str, Any] = {
        "request_id": f"req-{n}",
        "endpoint": endpoint,
        "version": "fraud@3",
        "role": Role.PRIMARY,
        "site": "edge-fra",
        "at": T0 + n,
        "latency_ms": 4.25,
        "status": 200,
        "features": {"amount": float(n)},
        "prediction": {"score": 0.5},
    }
    fields.update(changes)
    return InferenceRecord(**fields)
