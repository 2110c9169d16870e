"""Serving replicas as local processes: a real HTTP server on the port the backend gives it."""

from __future__ import annotations

import shlex
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, Handle, ReplicaStatus, Serving
from aiplane.backends.process import runfiles
from aiplane.backends.process.serving import pick_port
from aiplane.backends.registry import build_backend
from aiplane.core.errors import BackendError
from tests.backends.drivers import kill_replicas
from tests.backends.helpers import make_spec, wait_for_file, wait_status, wait_until

# Answers GET with the replica's index, and says so when it finds itself drained.
_SERVER = """
import http.server, os, pathlib
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        drained = pathlib.Path(os.environ["AIPLANE_DRAIN_FILE"]).exists()
        body = f"replica {os.environ['AIPLANE_REPLICA_INDEX']} drained={drained}".encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
where = (os.environ["AIPLANE_HOST"], int(os.environ["AIPLANE_PORT"]))
http.server.HTTPServer(where, H).serve_forever()
"""


def _server_command(tmp_path: Path) -> str:
    script = tmp_path / "server.py"
    script.write_text(_SERVER)
    return f"exec {shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def _get(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/", timeout=5) as response:
        return str(response.read().decode())


def _serving(backend: Backend) -> Serving:
    assert isinstance(backend, Serving)
    return backend


def test_a_replica_serves_http_at_its_address(backend: Backend, tmp_path: Path) -> None:
    serving = _serving(backend)
    handle = backend.launch(make_spec(command=_server_command(tmp_path), listens=True, replica=1))
    address = serving.address(handle)
    assert address is not None and address.startswith("127.0.0.1:")
    wait_until(lambda: serving.ready(handle), what="the server to accept connections")
    assert _get(address) == "replica 1 drained=False"
    serving.drain(handle)
    assert not serving.ready(handle)
    assert _get(address) == "replica 1 drained=True"  # it still runs, and knows
    backend.cancel(handle, grace_s=5)
    wait_status(backend, handle, ReplicaStatus.EXITED)


def test_a_listening_replica_is_told_where_to_listen(backend: Backend) -> None:
    spec = make_spec(command="echo host=$AIPLANE_HOST port=$AIPLANE_PORT", listens=True)
    handle = backend.launch(spec)
    wait_status(backend, handle, ReplicaStatus.EXITED)
    assert f"host=127.0.0.1 port={handle['port']}" in backend.logs(handle)
    assert _serving(backend).address(handle) == f"127.0.0.1:{handle['port']}"
    plain = backend.launch(make_spec(replica=1, command="echo [$AIPLANE_PORT]"))
    wait_status(backend, plain, ReplicaStatus.EXITED)
    assert "[]" in backend.logs(plain) and "port" not in plain


def test_a_replica_that_exited_is_not_ready_even_if_its_port_is_taken(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="exit 0", listens=True))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(handle["port"])))
        squatter.listen()
        assert not _serving(backend).ready(handle)


def test_ports_come_from_the_configured_range(tmp_path: Path) -> None:
    low = pick_port("127.0.0.1", None)  # a free port to start the range at
    ports = {"min": low, "max": low + 40}
    backend = build_backend("local", tmp_path / "work", {"ports": ports})
    handles: list[Handle] = []
    try:
        # One at a time into the list: those launched before a failure are cancelled too.
        handles.extend(
            backend.launch(make_spec(replica=i, command="sleep 30", listens=True)) for i in range(3)
        )
        got = [int(h["port"]) for h in handles]
        assert len(set(got)) == 3, "replicas launched together got the same port"
        assert all(low <= p <= low + 40 for p in got)
    finally:
        # Cancelled first: a supervisor that has not written its record yet (launched a moment
        # ago) is one kill_replicas cannot see.
        for handle in handles:
            backend.cancel(handle, grace_s=0.1)
        kill_replicas(tmp_path / "work")


def test_a_full_port_range_is_a_backend_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        backend = build_backend(
            "emulated", tmp_path / "work", {"ports": {"min": port, "max": port}}
        )
        with pytest.raises(BackendError, match="no free port"):
            backend.launch(make_spec(listens=True))


def test_serve_host_is_where_replicas_listen_and_are_reached(tmp_path: Path) -> None:
    # All of 127/8 is loopback on Linux: a second address without any set-up.
    backend = build_backend("local", tmp_path / "work", {"serve_host": "127.0.0.2"})
    try:
        handle = backend.launch(make_spec(command=_server_command(tmp_path), listens=True))
        assert _serving(backend).address(handle) == f"127.0.0.2:{handle['port']}"
        wait_until(lambda: _serving(backend).ready(handle), what="the server on 127.0.0.2")
        assert _get(f"127.0.0.2:{handle['port']}") == "replica 0 drained=False"
    finally:
        kill_replicas(tmp_path / "work")


def test_drain_writes_the_file_the_replica_was_pointed_at(backend: Backend) -> None:
    spec = make_spec(command='echo "$AIPLANE_DRAIN_FILE"; sleep 30', listens=True)
    handle = backend.launch(spec)

    def printed() -> str | None:
        last = (backend.logs(handle).strip().splitlines() or [""])[-1]
        return last if last.startswith("/") else None

    drain_file = Path(wait_until(printed, what="the drain path"))
    assert drain_file == Path(handle["dir"]) / runfiles.DRAIN and not drain_file.exists()
    _serving(backend).drain(handle)
    assert wait_for_file(drain_file)
    backend.cancel(handle, grace_s=1)
    wait_status(backend, handle, ReplicaStatus.EXITED)
