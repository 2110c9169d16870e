"""Drivers for the contract suite: one per member, making a replica do what a test needs.

A process backend's replica does things because its command does them (it prints, waits for a
control file, exits with the code written there, serves HTTP); the fake's because the driver
scripts its cluster. Either way the test then asks the backend only through the protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import sys
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiplane.backends.base import Backend, Handle, LaunchSpec, ReplicaStatus, Serving
from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.backends.process import procfs
from aiplane.backends.registry import build_backend
from aiplane.core.workloads import ServiceSpec

from .helpers import make_spec, supervisor_record, wait_status, wait_until

MEMBERS = ("local", "emulated", "fake")
_SERVICE_SERVER = Path(__file__).with_name("service_server.py")
# Short delays: the tests wait for restarts, they do not time them.
FAST_RESTARTS = ServiceSpec(
    readiness_path="/ready", backoff_initial_s=0.05, backoff_max_s=0.1, backoff_reset_s=60.0
)


class Driver(ABC):
    backend: Backend

    @abstractmethod
    def spec(self, output: str = "", **overrides: Any) -> LaunchSpec:
        """A replica that prints ``output``, then runs until ``finish``ed or ``lose``t."""

    @abstractmethod
    def server_spec(self, **overrides: Any) -> LaunchSpec:
        """A replica that listens on the port its backend gives it."""

    def launch(self, output: str = "", **overrides: Any) -> Handle:
        return self.backend.launch(self.spec(output, **overrides))

    @abstractmethod
    def service_spec(self, service: ServiceSpec = FAST_RESTARTS, **overrides: Any) -> LaunchSpec:
        """A service replica (``service``) that answers its readiness path once ``answer``ed
        and exits when ``crash``ed."""

    @abstractmethod
    def up(self, handle: Handle) -> None:
        """Returns once the service runs and accepts connections (it may not answer yet)."""

    @abstractmethod
    def answer(self, handle: Handle) -> None:
        """From now on the service answers its readiness path (it does, after a restart too)."""

    @abstractmethod
    def crash(self, handle: Handle, exit_code: int) -> None:
        """The service's command exits by itself with ``exit_code``."""

    @abstractmethod
    def start(self, handle: Handle) -> None:
        """Returns once the replica runs (and, when it listens, serves)."""

    @abstractmethod
    def finish(self, handle: Handle, exit_code: int) -> None: ...

    @abstractmethod
    def lose(self, handle: Handle) -> None:
        """The replica vanishes without an exit (its machine died)."""

    @abstractmethod
    def fresh(self) -> Backend:
        """Another backend of the same kind over the same state (a restarted control plane)."""

    def cleanup(self) -> None:
        return None


class ProcessDriver(Driver):
    def __init__(self, name: str, tmp_path: Path) -> None:
        self.work_root = tmp_path / "work"
        self.controls = tmp_path / "ctl"
        self.controls.mkdir()
        self.backend = build_backend(name, self.work_root)
        self.launched: list[Handle] = []

    def launch(self, output: str = "", **overrides: Any) -> Handle:
        handle = super().launch(output, **overrides)
        self.launched.append(handle)
        return handle

    def _control(self, spec: LaunchSpec) -> Path:
        return self.controls / f"{spec.run_id}-{spec.attempt}-{spec.replica}"

    def spec(self, output: str = "", **overrides: Any) -> LaunchSpec:
        spec = make_spec(**overrides)
        ctl = shlex.quote(str(self._control(spec)))
        command = (
            f"printf %s {shlex.quote(output)}; "
            f"while [ ! -e {ctl} ]; do sleep 0.05; done; exit $(cat {ctl})"
        )
        return replace(spec, command=command)

    def server_spec(self, **overrides: Any) -> LaunchSpec:
        python = shlex.quote(sys.executable)
        command = f"exec {python} -m http.server $AIPLANE_PORT --bind $AIPLANE_HOST"
        return make_spec(command=command, listens=True, **overrides)

    def service_spec(self, service: ServiceSpec = FAST_RESTARTS, **overrides: Any) -> LaunchSpec:
        spec = make_spec(service=service, **overrides)
        words = [sys.executable, str(_SERVICE_SERVER), str(self._control(spec))]
        return replace(spec, command=f"exec {shlex.join(words)}")

    def up(self, handle: Handle) -> None:
        assert isinstance(self.backend, Serving)
        address = self.backend.address(handle)
        assert address is not None
        host, _, port = address.rpartition(":")

        def accepts() -> bool:
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_status(self.backend, handle, ReplicaStatus.RUNNING)
        wait_until(accepts, what=f"the service to accept connections at {address}")

    def answer(self, handle: Handle) -> None:
        self._control_file(handle, ".ready").touch()

    def crash(self, handle: Handle, exit_code: int) -> None:
        crash = self._control_file(handle, ".crash")
        tmp = crash.with_name(crash.name + ".tmp")
        tmp.write_text(str(exit_code))
        tmp.rename(crash)

    def starts(self, handle: Handle) -> list[tuple[int, int]]:
        """``(pid, port)`` of each start of the service's command, in order."""
        try:
            text = self._control_file(handle, ".starts").read_text()
        except FileNotFoundError:
            return []
        return [
            (int(pid), int(port))
            for pid, port in (line.split() for line in text.split("\n") if line)
        ]

    def _control_file(self, handle: Handle, suffix: str) -> Path:
        ctl = self.controls / f"{handle['run_id']}-{handle['attempt']}-{handle['replica']}"
        return ctl.with_name(ctl.name + suffix)

    def start(self, handle: Handle) -> None:
        wait_status(self.backend, handle, ReplicaStatus.RUNNING)

    def finish(self, handle: Handle, exit_code: int) -> None:
        ctl = self.controls / f"{handle['run_id']}-{handle['attempt']}-{handle['replica']}"
        tmp = ctl.with_suffix(".tmp")
        tmp.write_text(str(exit_code))
        tmp.rename(ctl)  # whole or absent: the command must never read half a code

    def lose(self, handle: Handle) -> None:
        record = supervisor_record(handle)
        os.kill(record["pid"], signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["child_pgid"], signal.SIGKILL)
        wait_until(lambda: not procfs.is_alive(record["pid"], record["start_ticks"]))

    def fresh(self) -> Backend:
        return build_backend(self.backend.name, self.work_root)

    def cleanup(self) -> None:
        # A replica launched just before the test ended may not have written its supervisor's
        # record yet, which kill_replicas reads: cancelled first (the backend's cancel covers a
        # replica not started), it cannot outlive the test (one did, waiting for its control
        # file for hours).
        for handle in self.launched:
            with contextlib.suppress(Exception):
                self.backend.cancel(handle, grace_s=0.1)
        kill_replicas(self.work_root)


class FakeDriver(Driver):
    def __init__(self) -> None:
        self.cluster = FakeCluster()
        self.backend = FakeBackend(self.cluster)
        self.answering: set[str] = set()  # replicas whose readiness path answers

    def spec(self, output: str = "", **overrides: Any) -> LaunchSpec:
        return make_spec(command=f"fake: print {output!r}", **overrides)

    def server_spec(self, **overrides: Any) -> LaunchSpec:
        return make_spec(command="fake: serve", listens=True, **overrides)

    def launch(self, output: str = "", **overrides: Any) -> Handle:
        spec = self.spec(output, **overrides)
        new = f"{spec.run_id}/a{spec.attempt}/r{spec.replica}" not in self.cluster.replicas
        handle = self.backend.launch(spec)
        if new:
            self.cluster.write(handle, output)
        return handle

    def service_spec(self, service: ServiceSpec = FAST_RESTARTS, **overrides: Any) -> LaunchSpec:
        return make_spec(command="fake: service", service=service, **overrides)

    def up(self, handle: Handle) -> None:
        self.cluster.start(handle)
        replica = self.cluster.replica(handle)
        assert replica.spec.service is not None
        if replica.spec.service.readiness_path is None or str(handle["id"]) in self.answering:
            self.cluster.serve(handle)  # without a path, ready is accepting connections

    def answer(self, handle: Handle) -> None:
        self.answering.add(str(handle["id"]))
        if self.cluster.replica(handle).status is ReplicaStatus.RUNNING:
            self.cluster.serve(handle)

    def crash(self, handle: Handle, exit_code: int) -> None:
        self.cluster.finish(handle, exit_code)
        if str(handle["id"]) in self.answering:
            self.cluster.serve(handle)  # the restarted command answers again, as a process's

    def start(self, handle: Handle) -> None:
        self.cluster.start(handle)
        self.cluster.serve(handle)

    def finish(self, handle: Handle, exit_code: int) -> None:
        self.cluster.finish(handle, exit_code)

    def lose(self, handle: Handle) -> None:
        self.cluster.lose(handle)

    def fresh(self) -> Backend:
        return FakeBackend(self.cluster)


def driver_for(member: str, tmp_path: Path) -> Driver:
    return FakeDriver() if member == "fake" else ProcessDriver(member, tmp_path)


def kill_replicas(work_root: Path) -> None:
    """SIGKILL every supervisor and command group still alive under ``work_root``, so that a
    test never leaks processes, whichever way it launched them."""
    for record_file in work_root.glob("runs/*/*/*/supervisor.json"):
        with contextlib.suppress(Exception):
            # Read directly, never waited for: some replicas never start (cancelled early).
            record = json.loads(record_file.read_text())
            if procfs.is_alive(record["pid"], record["start_ticks"]):
                os.kill(record["pid"], signal.SIGKILL)
            # Only our own group: matching the session rules out a reused pgid.
            if procfs.group_members(record["child_pgid"], record["session"]):
                os.killpg(record["child_pgid"], signal.SIGKILL)
