"""Inference records as JSON objects: the one shape every member writes, field for field.

A record's features and prediction are JSON values already (the gateway takes them from
request and response bodies), so they are written as they are.
"""

from __future__ import annotations

import json
from typing import Any

from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.inference import InferenceRecord


def to_dict(record: InferenceRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "endpoint": record.endpoint,
        "version": record.version,
        "role": record.role.value,
        "site": record.site,
        "at": record.at,
        "latency_ms": record.latency_ms,
        "status": record.status,
        "principal": record.principal,
        "features": dict(record.features),
        "prediction": dict(record.prediction),
    }


def from_dict(data: dict[str, Any]) -> InferenceRecord:
    return InferenceRecord(
        request_id=data["request_id"],
        endpoint=data["endpoint"],
        version=data["version"],
        role=Role(data["role"]),
        site=data["site"],
        at=float(data["at"]),
        latency_ms=float(data["latency_ms"]),
        status=int(data["status"]),
        principal=data.get("principal"),
        features=data.get("features") or {},
        prediction=data.get("prediction") or {},
    )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(record: InferenceRecord) -> bytes:
    return dumps(to_dict(record)).encode()


def decode(data: bytes) -> InferenceRecord:
    return from_dict(json.loads(data))
