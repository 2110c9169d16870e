"""Running a control-plane process: the home and database locks, the admin token, the discovery
file, uvicorn (the API and the inference gateway on one port).

``python -m aiplane.server`` is what ``aiplane up`` and the CLI's background start run, so the
CLI itself never imports this module (decision 0016).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.markup import escape

from aiplane.api.app import create_app
from aiplane.api.prometheus import registry_for
from aiplane.config import Settings
from aiplane.core.errors import AiplaneError
from aiplane.discovery import (
    DATABASE_TAKEN_EXIT,
    DEFAULT_PORT,
    HOME_TAKEN_EXIT,
    LocalHome,
    ServerInfo,
)
from aiplane.exits import report
from aiplane.gateway_wiring import Dispatch, build_gateway
from aiplane.gctuning import freeze_long_lived
from aiplane.listening import bind
from aiplane.store.sql.database_lock import DatabaseLock, DatabaseTakenError, Holder
from aiplane.store.sql.database_lock import hold_database as hold_sql_database
from aiplane.store.sql.engine import masked_url
from aiplane.wiring import ControlPlane


def _uvicorn(cp: ControlPlane) -> uvicorn.Server:
    """The HTTP server over ``cp``'s services: the API and, on the same port, the inference
    gateway (``/v1``, ``/v2``). The control plane's loops are started by the caller, before
    the socket is announced; the gateway's background work by the server's lifespan."""
    api = create_app(cp.services)
    # One registry for the one /metrics: the control plane's series and the gateway's.
    registry = registry_for(cp.services.metrics)
    api.state.metrics_registry = registry
    settings = cp.settings
    gateway = build_gateway(
        cp.services.gateway,
        redis_url=settings.redis_url,
        nats_url=settings.nats_url,
        log_dir=settings.inference_log_dir,
        registry=registry,
    )
    return uvicorn.Server(
        uvicorn.Config(Dispatch(gateway, api), log_level="warning", access_log=False, lifespan="on")
    )


def _url(host: str, sock: socket.socket) -> str:
    """The API's URL on the bound ``sock``: what clients and workloads are given."""
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{sock.getsockname()[1]}"


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

    ``announce(url, new_admin_token, recovered)`` is called once the plane runs; the token is
    given only on the very first start (it is stored only as a hash). Raises
    ``DatabaseTakenError`` when another control plane holds the database, at the start or
    after this one lost its lock (it has stopped then).
    """
    lost = _LockLost()
    with ExitStack() as held:
        # The socket first: a port that is taken must fail the start before the admin token is
        # made, or its hash would be stored with its plaintext written nowhere, for good.
        sock = bind(host, port)
        held.callback(sock.close)
        url = _url(host, sock)
        # Then the database, before anything opens or migrates it (decision 0035).
        lock = hold_database(settings, url, lost)
        if lock is not None:
            held.callback(lock.close)
        cp = ControlPlane.from_settings(settings, api_url=url)
        # At once: a lock lost from here on stops this plane's loops (a stop before their start
        # holds: they then never tick).
        lost.cp = cp
        held.callback(cp.stop)
        home = LocalHome(settings.home)
        held.callback(home.remove_server_info, os.getpid())
        token = cp.services.identity.ensure_admin()
        if token is not None:
            # The local CLI's credential, like a kubeconfig: readable by this user only.
            home.write_token(token)
        _run(cp, sock, home, host, announce, token, lost)
    if lost.happened:
        raise DatabaseTakenError.held_by(
            masked_url(settings.database_url),
            lost.holder,
            "this control plane lost its lock and stopped",
        )


def hold_database(
    settings: Settings, url: str | None, lost: Callable[[Holder | None], object] | None
) -> DatabaseLock | None:
    """This process's hold on its database (None for the in-memory store, which no other
    process sees); ``DatabaseTakenError`` naming the holder when another control plane has it."""
    if settings.database_url == "memory://":
        return None
    holder = Holder(socket.gethostname(), os.getpid(), str(settings.home), time.time(), url)
    return hold_sql_database(settings.database_url, holder, lost)


class _LockLost:
    """What a control plane does when another one took its database while its lock was lost:
    its loops stop at once (two schedulers must never run), then its API."""

    def __init__(self) -> None:
        self.happened = False
        self.holder: Holder | None = None
        self.cp: ControlPlane | None = None
        self.server: uvicorn.Server | None = None

    def __call__(self, holder: Holder | None) -> None:
        self.happened, self.holder = True, holder
        if self.cp is not None:
            self.cp.stop_loops()
        if self.server is not None:
            self.server.should_exit = True


def _run(
    cp: ControlPlane,
    sock: socket.socket,
    home: LocalHome,
    host: str,
    announce: Callable[[str, str | None, dict[str, int]], None],
    token: str | None,
    lost: _LockLost,
) -> None:
    url = _url(host, sock)
    if lost.happened:  # lost while opening the store: recover nothing, schedule nothing
        return
    # The HTTP server first: a gateway setting it cannot use (a Redis URL without the redis
    # extra) fails the start before any loop runs or the URL is announced.
    server = _uvicorn(cp)
    recovered = cp.start()
    home.write_server_info(ServerInfo(url, os.getpid(), time.time()))
    announce(url, token, recovered)
    lost.server = server
    if lost.happened:  # lost between the start and now
        return
    freeze_long_lived()
    # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal once it has stopped.
    # Turning that re-raise into an exception lets the clean-up in ``serve`` run instead of
    # the default handler ending the process on the spot.
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        server.run(sockets=[sock])
    except (_StopRequestedError, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class EmbeddedServer:
    """A whole control plane in a background thread of this process (demo, tests, benches)."""

    def __init__(
        self,
        settings: Settings,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        audited: bool = True,
    ) -> None:
        """``audited`` False: without the audit log (benchmarks compare the two).

        While it runs, this process's umask is 077, as ``aiplane up``'s is for good: what the
        control plane creates (database, run directories, workloads' files) is its owner's
        only, whatever the host process's umask. It is restored on exit."""
        self.settings = settings
        self.lost = _LockLost()
        self._umask = os.umask(0o077)
        with ExitStack() as failed:
            failed.callback(os.umask, self._umask)
            self._sock = bind(host, port)  # first, as in ``serve``
            failed.callback(self._sock.close)
            self.url = _url(host, self._sock)
            # Then the database, as in ``serve``.
            self.database_lock = hold_database(settings, self.url, self.lost)
            if self.database_lock is not None:
                failed.callback(self.database_lock.close)
            self.cp = ControlPlane.from_settings(settings, api_url=self.url, audited=audited)
            self.lost.cp = self.cp  # at once, as in ``serve``
            failed.callback(self.cp.stop)
            token = self.cp.services.identity.ensure_admin()
            if token is None:
                raise RuntimeError("EmbeddedServer needs a fresh home (its admin token exists)")
            self.token: str = token
            self._server = _uvicorn(self.cp)
            self.lost.server = self._server
            failed.pop_all()
        self._thread = threading.Thread(target=self._serve, name="aiplane-api", daemon=True)

    def _serve(self) -> None:
        self._server.run(sockets=[self._sock])

    def __enter__(self) -> EmbeddedServer:
        if self.lost.happened:  # lost since ``__init__``: start nothing, as ``serve`` does
            self.__exit__()
            raise DatabaseTakenError.held_by(
                masked_url(self.settings.database_url),
                self.lost.holder,
                "this control plane lost its lock before it started",
            )
        self.cp.start()
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:  # not started when its lock was lost first
            self._thread.join(10)
        self.cp.stop()
        if self.database_lock is not None:
            self.database_lock.close()
        self._sock.close()
        os.umask(self._umask)


def announce_token(console: Console, token: str | None, credentials: Path, tty: bool) -> None:
    """Where the admin token is. Its plaintext only to a terminal: stdout that is a file or a
    pipe (a service's journal, ``server.log``, a CI log) is read later and by others."""
    if token is None:
        console.print(f"admin token: in {credentials}")
    elif tty:
        console.print(f"admin token (shown once): [bold yellow]{token}[/]")
        console.print(f"saved for this user's CLI in {credentials}")
    else:
        console.print(f"admin token: made and saved in {credentials} (shown only on a terminal)")


def main(argv: list[str] | None = None) -> None:
    """``python -m aiplane.server [--host H] [--port P] [--quiet]``: ``aiplane up``."""
    # Whatever this process creates (the database and its WAL, run directories, logs) is its
    # owner's only, whatever umask it was started with: they may hold workloads' tokens,
    # outputs and the audit log.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="aiplane up")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    console, err_console = Console(), Console(stderr=True)
    try:
        settings = Settings.from_env()
    except AiplaneError as exc:  # a setting that is not what it must be, named
        raise SystemExit(report(err_console, exc)) from None
    home = LocalHome(settings.home)
    # Held until this process ends: no second server over this home, even one started at the
    # same moment (``discovery.wait_until_up`` then waits for this one).
    claimed = home.claim()
    if claimed is None:
        running = home.running()
        if running is not None:
            where = f"at {running.url} (pid {running.pid})"
        else:  # still starting: its pid is in the lock file (written just after the lock)
            holder = home.lock_holder()
            deadline = time.monotonic() + 2
            while holder is None and time.monotonic() < deadline:
                time.sleep(0.05)
                holder = home.lock_holder()
            pid = f" (pid {holder})" if holder is not None else ""
            where = f"over {settings.home}{pid}, still starting"
        err_console.print(
            f"[bold red]error:[/] a control plane already runs {escape(where)}", highlight=False
        )
        raise SystemExit(HOME_TAKEN_EXIT)

    def announce(url: str, token: str | None, recovered: dict[str, int]) -> None:
        if args.quiet:
            return
        console.print(f"aiplane control plane at [bold]{url}[/] (home {settings.home})")
        console.print(f"API docs: {url}/api/v1/docs")
        console.print(f"inference gateway: {url}/v1 (OpenAI), {url}/v2 (Open Inference Protocol)")
        announce_token(console, token, home.credentials_file, sys.stdout.isatty())
        if any(recovered.values()):
            console.print("recovered: " + ", ".join(f"{k} {v}" for k, v in recovered.items()))
        console.print("Ctrl-C stops the control plane; running jobs keep running.")

    try:
        serve(settings, args.host, args.port, announce)
    except DatabaseTakenError as exc:
        # Another control plane runs over this database, with another home (decision 0035).
        # One line, unwrapped: the CLI's background start quotes it from server.log.
        err_console.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        raise SystemExit(DATABASE_TAKEN_EXIT) from None
    except AiplaneError as exc:
        # A bad setting (database URL, telemetry mode, catalog) or a port that is taken:
        # located problems and the CLI's exit codes, as before ``aiplane up`` exec'd here.
        raise SystemExit(report(err_console, exc)) from None
    finally:
        claimed.close()


if __name__ == "__main__":
    main()
