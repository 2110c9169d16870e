"""The ProcessIds capability: a replica's live processes, for telemetry attribution."""

from __future__ import annotations

from pathlib import Path

from aiplane.backends.base import Backend, ProcessIds, ReplicaStatus
from tests.backends.helpers import (
    make_spec,
    supervisor_record,
    wait_for_file,
    wait_status,
    wait_until,
)


def test_pids_name_the_command_and_its_children(backend: Backend, tmp_path: Path) -> None:
    assert isinstance(backend, ProcessIds)
    pidfile = tmp_path / "child.pid"
    handle = backend.launch(make_spec(command=f"sleep 60 & echo $! > {pidfile}; wait"))
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    child = supervisor_record(handle)["child_pid"]
    grandchild = int(wait_for_file(pidfile))
    pids = wait_until(lambda: backend.pids(handle) if grandchild in backend.pids(handle) else None)
    assert {child, grandchild} <= pids
    backend.cancel(handle, grace_s=5)
    wait_status(backend, handle, ReplicaStatus.EXITED)
    wait_until(lambda: not backend.pids(handle), what="no pids after exit")


def test_pids_of_unknown_or_foreign_handles_are_empty(backend: Backend, tmp_path: Path) -> None:
    assert isinstance(backend, ProcessIds)
    assert backend.pids({"dir": str(tmp_path / "elsewhere")}) == frozenset()
    spec = make_spec(run_id="never-started")
    assert backend.pids({"dir": str(Path(backend._launcher.run_dir(spec)))}) == frozenset()  # type: ignore[attr-defined]
