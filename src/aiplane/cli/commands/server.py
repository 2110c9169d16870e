"""`aiplane up` and `aiplane down`."""

from __future__ import annotations

import os
import signal
import time
from typing import Annotated

import typer

from aiplane.cli.client import local_server
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console
from aiplane.config import Settings
from aiplane.server import read_server_info, serve

DEFAULT_PORT = 8470


@handled
def up(
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    quiet: Annotated[bool, typer.Option(help="print nothing but errors")] = False,
) -> None:
    """Run the control plane here: API, scheduler and reconciler in one process."""
    settings = Settings.from_env()
    running = local_server(settings)
    if running is not None:
        err_console.print(f"[bold red]error:[/] a control plane already runs at {running}")
        raise typer.Exit(1)

    def announce(url: str, token: str | None, recovered: dict[str, int]) -> None:
        if quiet:
            return
        console.print(f"aiplane control plane at [bold]{url}[/] (home {settings.home})")
        console.print(f"API docs: {url}/api/v1/docs")
        if token is not None:
            console.print(f"admin token (shown once): [bold yellow]{token}[/]")
            console.print(f"saved for this user's CLI in {settings.credentials_file}")
        else:
            console.print(f"admin token: in {settings.credentials_file}")
        if any(recovered.values()):
            console.print("recovered: " + ", ".join(f"{k} {v}" for k, v in recovered.items()))
        console.print("Ctrl-C stops the control plane; running jobs keep running.")

    serve(settings, host, port, announce)


@handled
def down(
    timeout: Annotated[float, typer.Option(help="seconds to wait for it to stop")] = 15.0,
) -> None:
    """Stop the local control plane (running jobs keep running and are adopted next start)."""
    settings = Settings.from_env()
    info = read_server_info(settings)
    if info is None or local_server(settings) is None:
        console.print("no local control plane is running")
        return
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            console.print(f"stopped the control plane at {info.url}")
            return
        time.sleep(0.1)
    err_console.print(f"[bold red]error:[/] process {info.pid} did not stop in {timeout:g} s")
    raise typer.Exit(1)
