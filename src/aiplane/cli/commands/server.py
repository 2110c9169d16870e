"""`aiplane up` and `aiplane down`."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Annotated

import typer

from aiplane.cli.arguments import finite
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console
from aiplane.config import home_from_setting
from aiplane.discovery import DEFAULT_PORT, SERVER_MODULE, LocalHome


def up(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="port to listen on (0: any free port)")
    ] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    quiet: Annotated[bool, typer.Option(help="print nothing but errors")] = False,
) -> None:
    """Run the control plane here: API, scheduler and reconciler in one process."""
    # This process becomes the server (same pid, signals and terminal): the CLI never loads
    # the server's code (uvicorn, FastAPI, the store, the adapters) itself.
    args = [sys.executable, "-m", SERVER_MODULE, "--host", host, "--port", str(port)]
    sys.stdout.flush()
    # The CLI becomes the server process (same pid): a fixed argv, no shell.
    os.execv(sys.executable, args + (["--quiet"] if quiet else []))  # noqa: S606


@handled
def down(
    timeout: Annotated[
        float, typer.Option(min=0.0, callback=finite, help="seconds to wait for it to stop")
    ] = 15.0,
) -> None:
    """Stop the local control plane (running jobs keep running and are adopted next start)."""
    info = LocalHome(home_from_setting()).running()
    if info is None:
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
