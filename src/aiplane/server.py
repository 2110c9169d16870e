"""Running a control-plane process: the admin token, the discovery file, uvicorn."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from aiplane.api.app import create_app
from aiplane.config import Settings
from aiplane.services.tokens import ensure_admin_token
from aiplane.wiring import ControlPlane


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    started_at: float


def write_private(path: Path, text: str) -> None:
    """Write a file readable only by its owner, atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_server_info(settings: Settings) -> ServerInfo | None:
    try:
        data = json.loads(settings.server_file.read_text())
        return ServerInfo(str(data["url"]), int(data["pid"]), float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP must be explicit: asyncio enables TCP_NODELAY on accepted connections only
    # when the protocol says TCP, and without it every keep-alive response waits ~40 ms for
    # the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn(cp: ControlPlane) -> uvicorn.Server:
    """The HTTP server over ``cp``; the control plane's loops are started by the caller."""
    app = create_app(cp, run_loops=False)
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )


class _StopRequestedError(Exception):
    pass


def _raise_stopped(signum: int, frame: object) -> None:
    raise _StopRequestedError


def serve(
    settings: Settings,
    host: str,
    port: int,
    announce: Callable[[str, str | None, dict[str, int]], None],
) -> None:
    """Run API, scheduler and reconciler in this process until SIGINT/SIGTERM.

    ``announce(url, new_admin_token, recovered)`` is called once the socket is bound; the token
    is given only on the very first start (it is stored only as a hash).
    """
    cp = ControlPlane.from_settings(settings)
    token = ensure_admin_token(cp.store, time.time())
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}"
    if token is not None:
        # The local CLI's credential, like a kubeconfig: readable by this user only.
        write_private(settings.credentials_file, json.dumps({"token": token}))
    recovered = cp.start()
    write_private(
        settings.server_file,
        json.dumps({"url": url, "pid": os.getpid(), "started_at": time.time()}),
    )
    announce(url, token, recovered)
    server = _uvicorn(cp)
    # Everything loaded so far lives as long as the process: move it out of the collector's
    # way so full collections do not scan it (they showed up as p99 spikes in the API bench).
    gc.collect()
    gc.freeze()
    # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal once it has stopped.
    # Turning that re-raise into an exception lets the clean-up below run instead of the
    # default handler ending the process on the spot.
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        server.run(sockets=[sock])
    except (_StopRequestedError, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        cp.stop()
        info = read_server_info(settings)
        if info is not None and info.pid == os.getpid():
            settings.server_file.unlink(missing_ok=True)


class EmbeddedServer:
    """A whole control plane in a background thread of this process (demo, tests, benches)."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self.cp = ControlPlane.from_settings(settings)
        token = ensure_admin_token(self.cp.store, time.time())
        if token is None:
            raise RuntimeError("EmbeddedServer needs a fresh home (its admin token exists)")
        self.token: str = token
        self._sock = bind(host, port)
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        self._server = _uvicorn(self.cp)
        self._thread = threading.Thread(target=self._serve, name="aiplane-api", daemon=True)

    def _serve(self) -> None:
        self._server.run(sockets=[self._sock])

    def __enter__(self) -> EmbeddedServer:
        self.cp.start()
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.cp.stop()
        self._sock.close()
