"""The CLI's one way to the control plane: AIPLANE_URL, or the local one (started if need be)."""

from __future__ import annotations

import os

from aiplane.cli.output import err_console
from aiplane.client import Client
from aiplane.config import home_from_setting, url_setting
from aiplane.core.errors import Problem, SpecError
from aiplane.discovery import LocalHome


def connect() -> Client:
    """The API client of every client command; notices (a server started) go to stderr so
    stdout stays valid JSON. ``AIPLANE_URL`` and ``AIPLANE_HOME`` are checked first, so that
    a bad one is named (exit 2) rather than met as an HTTP or file error."""
    url = os.environ.get("AIPLANE_URL")
    if url:
        url_setting("AIPLANE_URL", url)
        return Client.from_environment()
    home = LocalHome(home_from_setting())
    try:
        return Client.from_environment(autostart=True, notice=err_console.print, home=home)
    except OSError as exc:  # a home that passed the checks but cannot be made or written
        where = exc.filename or home.root
        raise SpecError(
            "cannot use the control plane's home",
            [Problem("AIPLANE_HOME", exc.strerror or str(exc), str(where), "a writable directory")],
        ) from None
