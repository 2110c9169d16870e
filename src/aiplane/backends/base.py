"""The backend protocol. Every member passes ``tests/backends/test_contract.py``.

Backends are stateless between calls: ``launch`` returns a JSON-serialisable handle per replica
that the control plane stores with the run, and every later call (poll, cancel, logs) works from
that handle alone. That is what lets a restarted control plane adopt processes it started before
a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

Handle = Mapping[str, Any]


@dataclass(frozen=True)
class LaunchSpec:
    run_id: str
    job_id: str
    attempt: int
    replica: int
    replicas: int
    command: str  # a shell command line
    workdir: str | None
    env: Mapping[str, str]
    site: str
    pool: str
    node: str
    accelerator: str | None
    gpus: float
    gpu_indices: tuple[int, ...] = ()
    checkpoint_dir: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class ReplicaStatus(StrEnum):
    STARTING = "starting"  # launched, not yet confirmed alive
    RUNNING = "running"
    EXITED = "exited"
    LOST = "lost"  # gone without a recorded exit (killed, machine rebooted, ...)


@dataclass(frozen=True)
class ReplicaReport:
    status: ReplicaStatus
    exit_code: int | None = None
    detail: str = ""


class Backend(Protocol):
    name: str
    emulated: bool

    def launch(self, spec: LaunchSpec) -> Handle:
        """Start one replica. Idempotent for the same run, attempt and replica: a second call
        returns the handle of the process already started instead of starting another."""
        ...

    def poll(self, handle: Handle) -> ReplicaReport: ...

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        """Ask the replica to stop (SIGTERM to its whole process group), escalating to a kill
        after ``grace_s``. Returns at once; a replica already gone is not an error."""
        ...

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str: ...


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str  # canonical accelerator name when known, else the driver's name
    memory_gib: float
    uuid: str = ""


@runtime_checkable
class GpuInventory(Protocol):
    """Capability: backends that run on this machine can say which GPUs it has."""

    def gpus(self) -> list[GpuDevice]: ...


@runtime_checkable
class ProcessIds(Protocol):
    """Capability: backends whose replicas are processes on this machine can name their live
    process ids (for telemetry: which process on a GPU belongs to which run)."""

    def pids(self, handle: Handle) -> frozenset[int]: ...
