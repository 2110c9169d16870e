"""Helpers shared by the backend tests: spec factory, deadlines, process checks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from aiplane.backends.base import Backend, Handle, LaunchSpec, ReplicaReport, ReplicaStatus
from aiplane.backends.process import procfs

T = TypeVar("T")

DEADLINE_S = 15.0  # generous: these are liveness deadlines, not timing assertions


def make_spec(**overrides: Any) -> LaunchSpec:
    spec = LaunchSpec(
        run_id="run-1",
        job_id="job-1",
        attempt=0,
        replica=0,
        replicas=2,
        command="true",
        workdir=None,
        env={},
        site="onprem-fra",
        pool="dgx-h100",
        node="node-0",
        accelerator=None,
        gpus=0.0,
    )
    return replace(spec, **overrides)


def wait_until(predicate: Callable[[], T | None], timeout: float = DEADLINE_S, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def wait_status(
    backend: Backend, handle: Handle, status: ReplicaStatus, timeout: float = DEADLINE_S
) -> ReplicaReport:
    last: list[ReplicaReport] = []

    def reached() -> ReplicaReport | None:
        report = backend.poll(handle)
        last[:] = [report]
        return report if report.status == status else None

    try:
        return wait_until(reached, timeout, f"status {status}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last report: {last}") from None


def wait_for_file(path: Path, timeout: float = DEADLINE_S) -> str:
    def content() -> str:
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            return ""

    return wait_until(content, timeout, f"file {path}")


def pid_alive(pid: int) -> bool:
    """True for a live process; zombies count as dead (they have exited)."""
    stat = procfs.read_stat(pid)
    return stat is not None and stat.alive


def supervisor_record(handle: Handle) -> dict[str, Any]:
    """The supervisor's record, once written (the command may print before it is)."""
    return dict(json.loads(wait_for_file(Path(handle["dir"]) / "supervisor.json")))


def group_alive(pgid: int) -> bool:
    return bool(procfs.group_members(pgid))
