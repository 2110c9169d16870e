"""The backend protocol: a small required core, and capabilities that only some engines have.

Every member passes ``tests/backends/test_contract.py``. The core (:class:`Backend`) is what any
engine can do: start one replica on the node aiplane chose, report on it, stop it, read its
output. The capabilities are runtime-checkable protocols that a backend implements when its
engine can do more; the control plane asks with ``isinstance`` and falls back to the core:

- :class:`GangSubmit`: all replicas of a run in one call; the engine may choose the nodes
  itself (Ray placement groups, ``sbatch --nodes N``, a Kubernetes JobSet) and says where each
  replica landed;
- :class:`BatchPoll`: reports for many replicas in one call;
- :class:`Serving`: a replica that listens has an address, a readiness, can be drained, and a
  serving gang can be scaled;
- :class:`GpuInventory` and :class:`ProcessIds`: this machine's GPUs, and a replica's pids.

Backends are stateless between calls: ``launch`` returns a JSON-serialisable handle per replica
that the control plane stores with the run, and every later call (poll, cancel, logs, address)
works from that handle alone. That is what lets a restarted control plane adopt replicas it
started before a crash.

A backend is built for one pool by a :class:`BackendFactory` from the pool's
``backend_config``; the control plane finds the backend of a placement through
:class:`Backends`, so services never name a concrete backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aiplane.core.errors import BackendError, Problem
from aiplane.core.fleet import Pool
from aiplane.core.runs import Placement
from aiplane.core.workloads import ProcessLimits, ServiceSpec

log = logging.getLogger(__name__)

Handle = Mapping[str, Any]
BackendConfig = Mapping[str, Any]
"""A pool's ``backend_config``: JSON values, checked by the backend's factory."""


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
    node: str  # aiplane's choice; advisory to a backend that chooses nodes itself
    accelerator: str | None
    gpus: float
    gpu_indices: tuple[int, ...] = ()
    checkpoint_dir: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # A serving replica: the backend gives it a port to listen on and reports its address.
    listens: bool = False
    # A long-running service (an endpoint's replica): it listens whatever ``listens`` says, is
    # ready once its readiness path answers, and is restarted with back-off when it exits on
    # its own (decision 0053). None: a command that runs to its end.
    service: ServiceSpec | None = None
    # The attempt's own API token, asked for only when the backend really starts this replica:
    # a launch that finds the replica started already leaves it the token it holds. A backend
    # delivers it as a file the replica alone reads (``AIPLANE_TOKEN_FILE``), never in its
    # environment, which a workload may print. None: no token.
    token: Callable[[], str] | None = field(default=None, compare=False, repr=False)
    # The workload's ``resources.limits``, applied to each process of the command by backends
    # that start processes (decision 0036); an engine with its own limits maps them to those.
    limits: ProcessLimits = field(default_factory=ProcessLimits)

    @property
    def serves(self) -> bool:
        """Whether the replica gets a port: it listens, or it is a service."""
        return self.listens or self.service is not None


class ReplicaStatus(StrEnum):
    STARTING = "starting"  # launched, not yet confirmed alive
    RUNNING = "running"
    EXITED = "exited"
    LOST = "lost"  # gone without a recorded exit (killed, machine rebooted, ...)


@dataclass(frozen=True)
class Restarts:
    """How often a service replica's command was started again after it exited by itself."""

    count: int
    last_exit_code: int | None  # the exit that caused the latest restart
    last_exit_at: float | None  # when it exited, seconds since the epoch


@dataclass(frozen=True)
class ReplicaReport:
    status: ReplicaStatus
    exit_code: int | None = None
    detail: str = ""
    # An exit that came after a cancel had reached the replica: its exit code says how it
    # took the stop, not that its work is done (a preempted victim's exit 0 without one is).
    # None: the backend does not say, and an exit 0 then proves nothing either (decision 0032).
    cancelled: bool | None = None
    # A service replica's restarts so far; None for one never restarted (or not a service).
    # A replica waiting to be started again is RUNNING: it is still the endpoint's replica.
    restarts: Restarts | None = None


class Backend(Protocol):
    """The core every backend implements."""

    name: str
    emulated: bool

    def launch(self, spec: LaunchSpec) -> Handle:
        """Start one replica. Idempotent for the same run, attempt and replica: a second call
        returns the handle of the replica already started instead of starting another."""
        ...

    def poll(self, handle: Handle) -> ReplicaReport: ...

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        """Ask the replica to stop, escalating to a kill after ``grace_s``. Returns at once; a
        replica already gone is not an error."""
        ...

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str: ...


# -- gang submission ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Landing:
    """Where one replica of a gang landed: its handle and the node the engine put it on."""

    replica: int
    handle: Handle
    node: str


@runtime_checkable
class GangSubmit(Protocol):
    """Capability: all replicas of one run attempt in one call.

    ``specs`` hold one spec per replica, in replica order, each with aiplane's node choice; an
    engine that places gangs itself treats those as advisory and reports in each
    :class:`Landing` where the replica really runs. All or nothing: on failure nothing of the
    gang is left running and a :class:`BackendError` is raised. Idempotent like ``launch``.
    """

    def submit_gang(self, specs: Sequence[LaunchSpec]) -> list[Landing]: ...


def launch_each(backend: Backend, specs: Sequence[LaunchSpec], grace_s: float) -> list[Landing]:
    """A gang through the core: one ``launch`` per replica on aiplane's nodes. All or nothing:
    when any launch fails, with any exception, the replicas already started are cancelled
    (each on its own, so one cancel that fails does not leave the rest running) and the
    original error goes on."""
    landings: list[Landing] = []
    try:
        for spec in specs:
            # A loop, not a comprehension: on a failure ``landings`` holds what must be cancelled.
            landings.append(Landing(spec.replica, backend.launch(spec), spec.node))  # noqa: PERF401
    except BaseException:
        # Broad on purpose: whatever stopped the gang half-way, half a gang must not keep
        # GPUs busy. The error itself is re-raised unchanged.
        for landing in landings:
            _cancel_quietly(backend, landing, grace_s)
        raise
    return landings


def _cancel_quietly(backend: Backend, landing: Landing, grace_s: float) -> None:
    try:
        backend.cancel(landing.handle, grace_s)
    except Exception:
        # The launch's error is the one to report; this one is logged for the operator.
        log.exception("cancelling replica %d after a failed gang launch", landing.replica)


# -- batched polling ---------------------------------------------------------------------------


@runtime_checkable
class BatchPoll(Protocol):
    """Capability: reports for many replicas (of any runs) in one call, in ``handles`` order."""

    def poll_many(self, handles: Sequence[Handle]) -> list[ReplicaReport]: ...


# -- serving -----------------------------------------------------------------------------------


@runtime_checkable
class Serving(Protocol):
    """Capability: replicas launched with ``listens`` or a ``service`` serve on an address.

    The life of a serving replica: launched, ``ready`` once it accepts connections (a
    service's: once its readiness path answers 2xx), ``drain`` takes it out of rotation
    (``ready`` is False from then on while it finishes what it has), ``cancel`` stops it. A
    service whose command exits by itself, before any drain or cancel, is started again after
    a back-off on the same address, and stays RUNNING meanwhile (``ReplicaReport.restarts``).
    ``scale`` changes how many replicas a serving gang has.
    """

    def address(self, handle: Handle) -> str | None:
        """``host:port`` where the replica serves; None for one that does not listen."""
        ...

    def ready(self, handle: Handle) -> bool:
        """True while the replica runs, is not drained and accepts connections (a service:
        answers its readiness path with 2xx)."""
        ...

    def drain(self, handle: Handle) -> None:
        """Take the replica out of rotation; it keeps running until cancelled. Idempotent."""
        ...

    def scale(
        self, template: LaunchSpec, handles: Sequence[Handle], replicas: int, grace_s: float
    ) -> list[Handle]:
        """The gang's handles after scaling to ``replicas``: new replicas are launched from
        ``template`` (with their replica index), surplus ones (the highest indices) are drained
        and cancelled with ``grace_s``."""
        ...


class ServingBackend(Backend, Serving, Protocol):
    """A backend with the serving capability."""


def scale_each(
    backend: ServingBackend,
    template: LaunchSpec,
    handles: Sequence[Handle],
    replicas: int,
    grace_s: float,
) -> list[Handle]:
    """``Serving.scale`` for a backend that runs each replica on its own: launch the missing
    indices from ``template``, drain and cancel the surplus (highest indices first)."""
    if replicas < 0:
        raise BackendError(f"cannot scale to {replicas} replicas")
    kept = list(handles[:replicas])
    for handle in reversed(handles[replicas:]):
        backend.drain(handle)
        backend.cancel(handle, grace_s)
    kept.extend(
        backend.launch(replace(template, replica=index, replicas=replicas))
        for index in range(len(kept), replicas)
    )
    return kept


# -- this machine ------------------------------------------------------------------------------


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


# -- building and finding backends -------------------------------------------------------------


class BackendConfigError(BackendError):
    """A pool's ``backend_config`` that its backend refuses; problem locations are relative to
    ``backend_config`` (``partition``, ``ports.min``)."""


class BackendFactory(Protocol):
    """Builds a backend for one pool's configuration, keeping its files under ``work_root``.

    Checks ``config`` and raises :class:`BackendConfigError` with every problem; does no I/O
    (a cluster is contacted when the backend is first used, not when it is built).
    """

    def __call__(self, work_root: Path, config: BackendConfig, /) -> Backend: ...


class Backends(Protocol):
    """How the control plane finds backends: the only backend object that services hold."""

    def for_placement(self, placement: Placement) -> Backend:
        """The backend that runs ``placement``'s pool; BackendError when there is none."""
        ...

    def for_pool(self, pool: Pool) -> Backend:
        """The backend for ``pool`` and its configuration; BackendError when there is none."""
        ...

    def config_problems(self, pool: Pool) -> list[Problem]:
        """What is wrong with ``pool``'s backend and its configuration, located relative to
        the pool (``backend``, ``backend_config.partition``); [] when it can run there."""
        ...
