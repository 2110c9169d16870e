from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from aiplane.client._http import Http
from aiplane.wire.identity import PrincipalOut

# ``update``'s default: leave the field as it is (None is a value: "no e-mail").
_KEEP: Any = object()


class Users:
    """``/users``: principals, people and service accounts."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def list(self) -> builtins.list[PrincipalOut]:
        return self._http.call_list(PrincipalOut, "GET", "/users")

    def create(
        self,
        name: str,
        *,
        kind: str = "user",
        global_role: str | None = None,
        email: str | None = None,
    ) -> PrincipalOut:
        # Checked by the server, which names every problem (a ``PrincipalIn``).
        body = {"name": name, "kind": kind, "global_role": global_role, "email": email}
        return self._http.call(PrincipalOut, "POST", "/users", body=body)

    def show(self, name: str) -> PrincipalOut:
        return self._http.call(PrincipalOut, "GET", f"/users/{quote(name, safe='')}")

    def update(
        self,
        name: str,
        *,
        global_role: str | None = _KEEP,
        disabled: bool | None = None,
        email: str | None = _KEEP,
    ) -> PrincipalOut:
        """Only what is given changes; ``global_role=None`` (or ``"none"``) clears the role,
        ``email=None`` the e-mail."""
        body: dict[str, Any] = {}
        if global_role is not _KEEP:
            body["global_role"] = global_role
        if disabled is not None:
            body["disabled"] = disabled
        if email is not _KEEP:
            body["email"] = email
        return self._http.call(PrincipalOut, "PATCH", f"/users/{quote(name, safe='')}", body=body)
