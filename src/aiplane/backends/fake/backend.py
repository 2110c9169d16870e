"""The fake backend: an in-memory engine that tests script, with every capability.

Nothing runs. A replica is a record in a :class:`FakeCluster` that stays where a test puts it:
launched replicas are ``starting`` until ``start``, then ``running`` until ``finish`` (an exit
code) or ``lose``; a service's ``finish`` (before any drain or cancel) is a crash it restarts
after: it stays ``running``, counts the restart and is not ready until ``serve``d again (the
fake has no clock to wait on: no back-off). ``write`` adds output, ``serve`` makes a listening
replica ready,
``set_pids`` names its processes, ``fail_launch`` makes a launch fail. ``calls`` records what
the layers above asked, in order, so a test can check that a gang was submitted in one call or
polled in one batch.

Like the process backends it keeps no state of its own: every :class:`FakeBackend` over the
same cluster sees the same replicas, the way a restarted control plane finds its processes.

``backend_config`` settings (checked like any backend's):

    chooses_nodes: true   # gangs land on nodes the fake picks (like Slurm or a Ray placement
                          # group), reported in each Landing; else on aiplane's nodes
    cluster: fake-a       # the cluster's name, in handles and chosen node names (fake-a/0,
                          # fake-a/1, ...: a fake named for a pool's key lands on its nodes)
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.backends.base import (
    Backend,
    BackendConfig,
    BackendFactory,
    GpuDevice,
    Handle,
    Landing,
    LaunchSpec,
    ReplicaReport,
    ReplicaStatus,
    Restarts,
    scale_each,
)
from aiplane.backends.config import ConfigReader
from aiplane.core.errors import BackendError

SETTINGS = {
    "chooses_nodes": "true or false: whether gangs land on nodes the fake picks itself",
    "cluster": "a word: the fake cluster's name (default fake)",
}
_FIRST_PORT = 8000


@dataclass
class FakeReplica:
    spec: LaunchSpec
    handle: dict[str, Any]
    status: ReplicaStatus = ReplicaStatus.STARTING
    exit_code: int | None = None
    detail: str = ""
    output: str = ""
    ready: bool = False
    drained: bool = False
    pids: frozenset[int] = frozenset()
    token: str | None = None  # the attempt's token, asked for when the replica was created
    cancelled: bool = False  # ended by a cancel (its exit code says how it took the stop)
    restarts: Restarts | None = None  # a service's, once it was restarted


@dataclass
class FakeCluster:
    """The fake engine's state: replicas by id, the calls made, this "machine's" GPUs."""

    gpus: list[GpuDevice] = field(default_factory=list)
    replicas: dict[str, FakeReplica] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    # (launches still to succeed, message): the launch after those fails, once.
    failure: tuple[int, str] | None = None
    node_numbers: itertools.count[int] = field(
        default_factory=itertools.count, init=False, repr=False
    )
    clock: Callable[[], float] = time.time  # when a service's restarts happened

    def factory(self, name: str = "fake", *, emulated: bool = False) -> BackendFactory:
        """A factory for the registry: backends named ``name`` over this cluster."""

        # The factory protocol names ``work_root``; the fake keeps no files under it.
        def build(work_root: Path, config: BackendConfig) -> Backend:  # noqa: ARG001
            return FakeBackend(self, config, name=name, emulated=emulated)

        return build

    def replica(self, handle: Handle) -> FakeReplica:
        found = self.replicas.get(str(handle.get("id")))
        if found is None:
            raise BackendError(f"no fake replica {handle.get('id')!r}")
        return found

    def calls_named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]

    # -- scripting ----------------------------------------------------------------------------

    def start(self, handle: Handle) -> None:
        self._move(handle, ReplicaStatus.RUNNING, None, "running")

    def finish(self, handle: Handle, exit_code: int = 0) -> None:
        replica = self.replica(handle)
        service = replica.spec.service
        if (
            service is not None
            and service.restart
            and not replica.drained
            and replica.status in (ReplicaStatus.STARTING, ReplicaStatus.RUNNING)
        ):
            # A service's command that ends by itself is started again, on the same address.
            count = 1 if replica.restarts is None else replica.restarts.count + 1
            replica.restarts = Restarts(count, exit_code, self.clock())
            replica.status, replica.ready = ReplicaStatus.RUNNING, False
            replica.detail = f"restarted after exit {exit_code} (restart {count})"
            return
        self._move(handle, ReplicaStatus.EXITED, exit_code, f"exited with code {exit_code}")

    def lose(self, handle: Handle, detail: str = "node went away") -> None:
        self._move(handle, ReplicaStatus.LOST, None, detail)

    def write(self, handle: Handle, text: str) -> None:
        self.replica(handle).output += text

    def fail_launch(self, message: str, after: int = 0) -> None:
        """Let ``after`` replica launches succeed, then fail the next with ``message``; a gang
        that would reach it fails as a whole, before anything of it starts."""
        self.failure = (after, message)

    def serve(self, handle: Handle) -> None:
        self.replica(handle).ready = True

    def set_pids(self, handle: Handle, pids: frozenset[int]) -> None:
        self.replica(handle).pids = pids

    def _move(self, handle: Handle, status: ReplicaStatus, code: int | None, detail: str) -> None:
        replica = self.replica(handle)
        if replica.status in (ReplicaStatus.EXITED, ReplicaStatus.LOST):
            return  # an ended replica stays ended, as a process does
        replica.status, replica.exit_code, replica.detail = status, code, detail


class FakeBackend:
    """A backend over a :class:`FakeCluster`, with every capability."""

    def __init__(
        self,
        cluster: FakeCluster | None = None,
        config: BackendConfig | None = None,
        *,
        name: str = "fake",
        emulated: bool = False,
    ) -> None:
        self.cluster = cluster if cluster is not None else FakeCluster()
        self.name = name
        self.emulated = emulated
        reader = ConfigReader(name, config or {}, SETTINGS)
        self.chooses_nodes = reader.flag("chooses_nodes", False)
        self.cluster_name = reader.text("cluster", "fake")
        reader.done()

    # -- the core -----------------------------------------------------------------------------

    def launch(self, spec: LaunchSpec) -> Handle:
        self.cluster.calls.append(("launch", _id(spec)))
        return self._launch(spec, spec.node)

    def poll(self, handle: Handle) -> ReplicaReport:
        self.cluster.calls.append(("poll", handle.get("id")))
        return self._report(handle)

    # The fake ends a replica at once, so the protocol's grace period has nothing to bound.
    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:  # noqa: ARG002
        self._check(handle)
        self.cluster.calls.append(("cancel", handle.get("id")))
        replica = self.cluster.replicas.get(str(handle["id"]))
        if replica is None or replica.status in (ReplicaStatus.EXITED, ReplicaStatus.LOST):
            return
        replica.status, replica.exit_code = ReplicaStatus.EXITED, 128 + signal.SIGTERM
        replica.detail, replica.ready = "cancelled; stopped by the fake", False
        replica.cancelled = True

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str:
        self._check(handle)
        replica = self.cluster.replicas.get(str(handle["id"]))
        data = replica.output.encode() if replica is not None else b""
        if tail_bytes is not None:
            data = data[len(data) - max(0, min(tail_bytes, len(data))) :]
        return data.decode("utf-8", errors="replace")

    # -- capabilities -------------------------------------------------------------------------

    def submit_gang(self, specs: Sequence[LaunchSpec]) -> list[Landing]:
        self.cluster.calls.append(("submit_gang", tuple(_id(s) for s in specs)))
        new = [s for s in specs if _id(s) not in self.cluster.replicas]
        self._maybe_fail(len(new))
        for spec in specs:  # all or nothing: refuse before anything is created
            _refuse_bad_workdir(spec)
        landings = []
        for spec in specs:
            node = spec.node
            if self.chooses_nodes and _id(spec) not in self.cluster.replicas:
                node = f"{self.cluster_name}/{next(self.cluster.node_numbers)}"
            handle = self._launch(spec, node, checked=True)
            landings.append(Landing(spec.replica, handle, str(handle["node"])))
        return landings

    def poll_many(self, handles: Sequence[Handle]) -> list[ReplicaReport]:
        self.cluster.calls.append(("poll_many", len(handles)))
        return [self._report(h) for h in handles]

    def address(self, handle: Handle) -> str | None:
        self._check(handle)
        address = handle.get("address")
        return str(address) if address is not None else None

    def ready(self, handle: Handle) -> bool:
        self._check(handle)
        replica = self.cluster.replicas.get(str(handle["id"]))
        return (
            replica is not None
            and replica.spec.serves
            and replica.ready
            and not replica.drained
            and replica.status is ReplicaStatus.RUNNING
        )

    def drain(self, handle: Handle) -> None:
        self.cluster.calls.append(("drain", handle.get("id")))
        self.cluster.replica(handle).drained = True

    def scale(
        self, template: LaunchSpec, handles: Sequence[Handle], replicas: int, grace_s: float
    ) -> list[Handle]:
        self.cluster.calls.append(("scale", template.run_id, replicas))
        return scale_each(self, template, handles, replicas, grace_s)

    def gpus(self) -> list[GpuDevice]:
        return list(self.cluster.gpus)

    def pids(self, handle: Handle) -> frozenset[int]:
        self._check(handle)
        replica = self.cluster.replicas.get(str(handle["id"]))
        if replica is None or replica.status is not ReplicaStatus.RUNNING:
            return frozenset()
        return replica.pids

    # -- helpers ------------------------------------------------------------------------------

    def _launch(self, spec: LaunchSpec, node: str, *, checked: bool = False) -> Handle:
        key = _id(spec)
        existing = self.cluster.replicas.get(key)
        if existing is not None:
            return dict(existing.handle)
        if not checked:
            self._maybe_fail(1)
            _refuse_bad_workdir(spec)
        handle: dict[str, Any] = {
            "backend": self.name,
            "emulated": self.emulated,
            "cluster": self.cluster_name,
            "id": key,
            "run_id": spec.run_id,
            "attempt": spec.attempt,
            "replica": spec.replica,
            "node": node,
            "accelerator": spec.accelerator,
            "gpus": spec.gpus,
        }
        if spec.serves:
            handle["address"] = f"{node}:{_FIRST_PORT + spec.replica}"
        token = spec.token() if spec.token is not None else None
        self.cluster.replicas[key] = FakeReplica(spec, handle, token=token)
        return dict(handle)

    def _report(self, handle: Handle) -> ReplicaReport:
        self._check(handle)
        replica = self.cluster.replicas.get(str(handle["id"]))
        if replica is None:
            return ReplicaReport(ReplicaStatus.LOST, detail=f"no fake replica {handle['id']}")
        return ReplicaReport(
            replica.status, replica.exit_code, replica.detail, replica.cancelled, replica.restarts
        )

    def _maybe_fail(self, launches: int) -> None:
        """Count ``launches`` against a scripted failure; raise when one of them is it."""
        if self.cluster.failure is None or launches == 0:
            return
        after, message = self.cluster.failure
        if after < launches:
            self.cluster.failure = None
            raise BackendError(message)
        self.cluster.failure = (after - launches, message)

    def _check(self, handle: Handle) -> None:
        if not isinstance(handle.get("id"), str):
            raise BackendError("not a fake backend's handle (no 'id')")


def _refuse_bad_workdir(spec: LaunchSpec) -> None:
    if spec.workdir is not None and not Path(spec.workdir).is_dir():
        raise BackendError(f"workdir {spec.workdir!r} is not a directory")


def _id(spec: LaunchSpec) -> str:
    return f"{spec.run_id}/a{spec.attempt}/r{spec.replica}"
