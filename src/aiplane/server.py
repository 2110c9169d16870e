"""Running a control-plane process: the admin token, the discovery file, uvicorn.

``python -m aiplane.server`` is what ``aiplane up`` and the CLI's background start run, so the
CLI itself never imports this module (decision 0016).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from rich.console import Console

from aiplane.api.app import create_app
from aiplane.config import Settings
from aiplane.discovery import DEFAULT_PORT, LocalHome, ServerInfo
from aiplane.wiring import ControlPlane


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
    """The HTTP server over ``cp``'s services; the control plane's loops are started by the
    caller, before the socket is announced."""
    app = create_app(cp.services)
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )


class _StopRequestedError(Exception):
    pass


def _raise_stopped(_signum: int, _frame: object) -> None:
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
    token = cp.services.tokens.ensure_admin()
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}"
    home = LocalHome(settings.home)
    if token is not None:
        # The local CLI's credential, like a kubeconfig: readable by this user only.
        home.write_token(token)
    recovered = cp.start()
    home.write_server_info(ServerInfo(url, os.getpid(), time.time()))
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
        home.remove_server_info(os.getpid())


class EmbeddedServer:
    """A whole control plane in a background thread of this process (demo, tests, benches)."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self.cp = ControlPlane.from_settings(settings)
        token = self.cp.services.tokens.ensure_admin()
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


def main(argv: list[str] | None = None) -> None:
    """``python -m aiplane.server [--host H] [--port P] [--quiet]``: ``aiplane up``."""
    parser = argparse.ArgumentParser(prog="aiplane up")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    home = LocalHome(settings.home)
    console, err_console = Console(), Console(stderr=True)
    running = home.running()
    if running is not None:
        err_console.print(f"[bold red]error:[/] a control plane already runs at {running.url}")
        raise SystemExit(1)

    def announce(url: str, token: str | None, recovered: dict[str, int]) -> None:
        if args.quiet:
            return
        console.print(f"aiplane control plane at [bold]{url}[/] (home {settings.home})")
        console.print(f"API docs: {url}/api/v1/docs")
        if token is not None:
            console.print(f"admin token (shown once): [bold yellow]{token}[/]")
            console.print(f"saved for this user's CLI in {home.credentials_file}")
        else:
            console.print(f"admin token: in {home.credentials_file}")
        if any(recovered.values()):
            console.print("recovered: " + ", ".join(f"{k} {v}" for k, v in recovered.items()))
        console.print("Ctrl-C stops the control plane; running jobs keep running.")

    serve(settings, args.host, args.port, announce)


if __name__ == "__main__":
    main()
