"""What the launcher does for a service replica (decision 0053): refuse one the supervisor
could not run, give the supervisor its restart options, read its restarts back for ``poll``.
The back-off itself, and the record, are ``restarts.py``'s (the supervisor's side)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.backends.base import LaunchSpec, Restarts
from aiplane.backends.process import restarts
from aiplane.core.errors import BackendError
from aiplane.core.workloads import ServiceSpec


def check(spec: LaunchSpec) -> None:
    """Refuse a service the supervisor could not run or the probe could not ask."""
    if spec.service is None:
        return
    problems = _backoff(spec.service).problems()
    path = spec.service.readiness_path
    if path is not None and (not path.startswith("/") or any(c.isspace() for c in path)):
        problems.append(
            f"readiness_path must be a URL path starting with / without spaces, not {path!r}"
        )
    if problems:
        raise BackendError(f"service of run {spec.run_id}: {'; '.join(problems)}")


def _backoff(service: ServiceSpec) -> restarts.Backoff:
    return restarts.Backoff(
        service.backoff_initial_s, service.backoff_max_s, service.backoff_reset_s
    )


def supervisor_argv(spec: LaunchSpec, handle: Mapping[str, Any]) -> list[str]:
    """The supervisor's options for a service it restarts (and whose port it holds)."""
    if spec.service is None or not spec.service.restart:
        return []
    port = (
        ["--host", str(handle["host"]), "--port", str(handle["port"])] if "port" in handle else []
    )
    return [*_backoff(spec.service).argv(), *port]


def restarts_of(record: Mapping[str, Any]) -> Restarts:
    code = record.get("last_exit_code")
    at = record.get("last_exit_at")
    return Restarts(
        count=int(record.get("count", 0)),
        last_exit_code=int(code) if isinstance(code, int) else None,
        last_exit_at=float(at) if isinstance(at, int | float) else None,
    )
