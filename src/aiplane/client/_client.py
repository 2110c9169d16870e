from __future__ import annotations

import os
from collections.abc import Callable

import httpx

from aiplane.client._costs import Costs
from aiplane.client._fleet import Fleet
from aiplane.client._http import Http
from aiplane.client._jobs import Jobs
from aiplane.client._teams import Teams
from aiplane.client._tokens import Tokens
from aiplane.client._users import Users
from aiplane.discovery import LocalHome, UnreachableError
from aiplane.wire.system import Health, WhoAmI


class Client:
    """The API at ``url`` (e.g. ``http://127.0.0.1:8470``), as the holder of ``token``.

    One resource per attribute: ``jobs``, ``fleet``, ``tokens``, ``costs``, ``users``,
    ``teams``. ``transport`` is
    httpx's: pass ``httpx.MockTransport(handler)`` to test code that uses the client.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = Http(url, token, timeout, transport)
        self.url = self._http.url
        self.jobs = Jobs(self._http)
        self.fleet = Fleet(self._http)
        self.tokens = Tokens(self._http)
        self.costs = Costs(self._http)
        self.users = Users(self._http)
        self.teams = Teams(self._http)

    @classmethod
    def from_environment(
        cls,
        *,
        autostart: bool = False,
        notice: Callable[[str], object] | None = None,
        home: LocalHome | None = None,
    ) -> Client:
        """``AIPLANE_URL`` with ``AIPLANE_TOKEN`` when set; else the local control plane that
        ``$AIPLANE_HOME/server.json`` names, with the token saved beside it. With
        ``autostart`` a local control plane is started in the background when none runs
        (``notice`` is told where); without, :class:`UnreachableError`."""
        url = os.environ.get("AIPLANE_URL")
        token = os.environ.get("AIPLANE_TOKEN")
        if url:
            return cls(url, token)
        local = home or LocalHome.from_env()
        info = local.running()
        if info is None:
            if not autostart:
                raise UnreachableError(
                    f"no local control plane is running (AIPLANE_HOME={local.root})"
                )
            info = local.start(notice)
        return cls(info.url, token or local.token())

    def health(self) -> Health:
        """Liveness, without a token."""
        return self._http.call(Health, "GET", "/health")

    def whoami(self) -> WhoAmI:
        return self._http.call(WhoAmI, "GET", "/whoami")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
