"""The CLI's one way to the control plane: AIPLANE_URL, or the local one (started if need be)."""

from __future__ import annotations

from aiplane.cli.output import err_console
from aiplane.client import Client


def connect() -> Client:
    """The API client of every client command; notices (a server started) go to stderr so
    stdout stays valid JSON."""
    return Client.from_environment(autostart=True, notice=err_console.print)
