from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx

from aiplane.client._artifacts import Transfers
from aiplane.client._audit import Audit
from aiplane.client._costs import Costs
from aiplane.client._datasets import Datasets
from aiplane.client._endpoints import Endpoints
from aiplane.client._errors import TokenFileError
from aiplane.client._fleet import Fleet
from aiplane.client._http import Http, Retry
from aiplane.client._jobs import Jobs
from aiplane.client._models import Models
from aiplane.client._placements import Placements
from aiplane.client._teams import Teams
from aiplane.client._tokens import Tokens
from aiplane.client._users import Users
from aiplane.discovery import LocalHome, UnreachableError
from aiplane.wire.system import Health, WhoAmI


class Client:
    """The API at ``url`` (e.g. ``http://127.0.0.1:8470``), as the holder of ``token``.

    One resource per attribute: ``jobs``, ``placements``, ``fleet``, ``tokens``, ``costs``,
    ``users``, ``teams``, ``models``, ``datasets``, ``endpoints``. ``transport`` is
    httpx's: pass ``httpx.MockTransport(handler)`` to test code that uses the client. ``retry``
    says how a submission, which the server deduplicates by its idempotency key, is retried.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retry: Retry | None = None,
    ) -> None:
        self._http = Http(url, token, timeout, transport, retry)
        self.url = self._http.url
        self.jobs = Jobs(self._http)
        self.placements = Placements(self._http)
        self.fleet = Fleet(self._http)
        self.tokens = Tokens(self._http)
        self.costs = Costs(self._http)
        self.audit = Audit(self._http)
        self.users = Users(self._http)
        self.teams = Teams(self._http)
        transfers = Transfers(self._http)
        self.models = Models(self._http, transfers)
        self.datasets = Datasets(self._http, transfers)
        self.endpoints = Endpoints(self._http)

    @classmethod
    def from_environment(
        cls,
        *,
        autostart: bool = False,
        notice: Callable[[str], object] | None = None,
        home: LocalHome | None = None,
    ) -> Client:
        """``AIPLANE_URL`` with ``AIPLANE_TOKEN`` when set, else with the token in the file
        ``AIPLANE_TOKEN_FILE`` names (how a workload gets its own); else the local control
        plane that ``$AIPLANE_HOME/server.json`` names, with the token saved beside it. With
        ``autostart`` a local control plane is started in the background when none runs
        (``notice`` is told where); without, :class:`UnreachableError`. A token file that
        cannot be read is a :class:`TokenFileError`."""
        url = os.environ.get("AIPLANE_URL")
        token = os.environ.get("AIPLANE_TOKEN") or _token_from_file()
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


def _token_from_file() -> str | None:
    """The token in the file ``AIPLANE_TOKEN_FILE`` names (surrounding whitespace dropped);
    None when it names none."""
    path = os.environ.get("AIPLANE_TOKEN_FILE")
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TokenFileError(f"AIPLANE_TOKEN_FILE={path}: cannot read the token: {reason}") from exc
    if not token:
        raise TokenFileError(f"AIPLANE_TOKEN_FILE={path}: the file is empty")
    return token
