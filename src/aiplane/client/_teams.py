from __future__ import annotations

import builtins
from urllib.parse import quote

from aiplane.client._http import Http
from aiplane.wire.identity import MemberOut


def _path(team: str, name: str | None = None) -> str:
    path = f"/teams/{quote(team, safe='')}/members"
    return path if name is None else f"{path}/{quote(name, safe='')}"


class Teams:
    """``/teams/{team}/members``: who is in a team, with which role."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def members(self, team: str) -> builtins.list[MemberOut]:
        return self._http.call_list(MemberOut, "GET", _path(team))

    def add_member(self, team: str, name: str, role: str = "member") -> MemberOut:
        """Add ``name`` to ``team`` as ``role`` (viewer, member, approver, owner), or change
        its role there."""
        # Checked by the server, which names the roles allowed (a ``MemberIn``).
        return self._http.call(MemberOut, "PUT", _path(team, name), body={"role": role})

    def remove_member(self, team: str, name: str) -> None:
        self._http.call_empty("DELETE", _path(team, name))
