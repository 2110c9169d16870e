"""Recording events: one helper so every use case logs the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.core.events import Event
from aiplane.core.runs import Run
from aiplane.store.base import Repositories


def record(
    store: Repositories,
    at: float,
    kind: str,
    message: str,
    run: Run | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    store.events.add(
        Event(
            at=at,
            kind=kind,
            message=message,
            job_id=run.job_id if run else None,
            run_id=run.id if run else None,
            data=dict(data or {}),
        )
    )
