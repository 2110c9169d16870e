"""Service replicas as supervised processes: the back-off between restarts, the port held while
the command is down, the stop a server takes cleanly, and the services a launch refuses
(decision 0053)."""

from __future__ import annotations

import errno
import re
import shlex
import signal
import socket
import sys
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, Handle, ReplicaReport, ReplicaStatus, Serving
from aiplane.backends.process import runfiles
from aiplane.backends.process.serving import pick_port
from aiplane.backends.registry import build_backend
from aiplane.core.errors import BackendError
from aiplane.core.workloads import ServiceSpec
from tests.backends.helpers import make_spec, wait_status, wait_until

_SERVER = Path(__file__).parents[1] / "service_server.py"


def _restarts(backend: Backend, handle: Handle, count: int) -> ReplicaReport:
    def reached() -> ReplicaReport | None:
        report = backend.poll(handle)
        # Starting at first; never ended while it restarts.
        assert report.status in (ReplicaStatus.STARTING, ReplicaStatus.RUNNING), report
        return report if report.restarts is not None and report.restarts.count >= count else None

    return wait_until(reached, what=f"restart {count}")


def _delays(backend: Backend, handle: Handle, count: int) -> list[str]:
    """The delays of the first ``count`` restarts, as the supervisor logged them."""

    def logged() -> list[str] | None:
        found = re.findall(r"restart \d+ in (\S+) s", backend.logs(handle))
        return found[:count] if len(found) >= count else None

    return wait_until(logged, what=f"{count} restarts in the log")


def test_the_delay_doubles_up_to_its_maximum(backend: Backend) -> None:
    service = ServiceSpec(backoff_initial_s=0.02, backoff_max_s=0.08, backoff_reset_s=60)
    handle = backend.launch(make_spec(command="exit 3", service=service))
    _restarts(backend, handle, 4)
    assert _delays(backend, handle, 4) == ["0.02", "0.04", "0.08", "0.08"]
    record = runfiles.read_json(Path(handle["dir"]) / runfiles.RESTARTS)
    assert record is not None and record["last_exit_code"] == 3 and record["backoff_s"] == 0.08
    backend.cancel(handle, grace_s=1)
    assert wait_status(backend, handle, ReplicaStatus.EXITED).cancelled is True


def test_a_run_as_long_as_the_reset_starts_the_delays_again(backend: Backend) -> None:
    service = ServiceSpec(backoff_initial_s=0.02, backoff_max_s=5, backoff_reset_s=0.1)
    handle = backend.launch(make_spec(command="sleep 0.15; exit 1", service=service))
    _restarts(backend, handle, 3)
    assert _delays(backend, handle, 3) == ["0.02", "0.02", "0.02"]
    backend.cancel(handle, grace_s=1)
    wait_status(backend, handle, ReplicaStatus.EXITED)


def test_while_it_waits_the_replica_runs_holds_its_port_and_a_cancel_ends_it(
    backend: Backend,
) -> None:
    service = ServiceSpec(backoff_initial_s=60, backoff_max_s=60)
    handle = backend.launch(make_spec(command="exit 2", service=service))
    waiting = _restarts(backend, handle, 1)
    assert waiting.status is ReplicaStatus.RUNNING
    assert re.fullmatch(r"restarting in \d+ s after exit 2 \(restart 1\)", waiting.detail)
    port = int(handle["port"])
    with socket.socket() as other, pytest.raises(OSError, match="in use") as taken:
        other.bind(("127.0.0.1", port))
    assert taken.value.errno == errno.EADDRINUSE
    with pytest.raises(BackendError, match="no free port"):
        pick_port("127.0.0.1", (port, port))  # no other replica is handed it
    assert isinstance(backend, Serving) and not backend.ready(handle)
    backend.cancel(handle, grace_s=1)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.cancelled is True and report.exit_code == 128 + signal.SIGTERM
    assert report.restarts is not None and report.restarts.count == 1
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))  # let go once the replica ended


def test_a_server_that_takes_the_stop_cleanly_is_not_restarted(
    backend: Backend, tmp_path: Path
) -> None:
    ctl = tmp_path / "svc"
    words = [sys.executable, str(_SERVER), str(ctl), "--exit-0-on-term"]
    service = ServiceSpec(readiness_path="/ready", backoff_initial_s=0.05, backoff_max_s=0.1)
    handle = backend.launch(make_spec(command=f"exec {shlex.join(words)}", service=service))
    (tmp_path / "svc.ready").touch()
    assert isinstance(backend, Serving)
    wait_until(lambda: backend.ready(handle), what="the service to answer")
    backend.cancel(handle, grace_s=5)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0 and report.cancelled is True and report.restarts is None
    assert len((tmp_path / "svc.starts").read_text().splitlines()) == 1


def test_a_restarted_service_keeps_its_environment_and_port(
    backend: Backend, tmp_path: Path
) -> None:
    out = tmp_path / "seen"
    command = f'echo "$AIPLANE_PORT $AIPLANE_REPLICA_INDEX $GREETING" >> {out}; exit 1'
    service = ServiceSpec(backoff_initial_s=0.05, backoff_max_s=0.05)
    spec = make_spec(command=command, service=service, env={"GREETING": "hi"}, replica=1)
    handle = backend.launch(spec)
    _restarts(backend, handle, 2)
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 2)
    lines = out.read_text().splitlines()
    assert set(lines) == {f"{handle['port']} 1 hi"}
    backend.cancel(handle, grace_s=1)
    wait_status(backend, handle, ReplicaStatus.EXITED)


def test_a_service_that_does_not_restart_runs_once(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="exit 3", service=ServiceSpec(restart=False)))
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 3 and report.restarts is None and "port" in handle


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (ServiceSpec(readiness_path="ready"), "readiness_path must be a URL path"),
        (ServiceSpec(readiness_path="/a b"), "readiness_path must be a URL path"),
        (ServiceSpec(backoff_initial_s=0), "backoff_initial_s must be above 0"),
        (ServiceSpec(backoff_max_s=float("nan")), "backoff_max_s must be a finite number"),
        (ServiceSpec(backoff_initial_s=5, backoff_max_s=1), "must not be under"),
    ],
)
def test_a_service_the_backend_cannot_run_is_refused(
    service: ServiceSpec, message: str, tmp_path: Path
) -> None:
    backend = build_backend("local", tmp_path / "work")
    with pytest.raises(BackendError, match=message):
        backend.launch(make_spec(service=service))
    assert not (tmp_path / "work" / "runs").exists()  # nothing was started
