from __future__ import annotations

from aiplane.client._http import Http
from aiplane.core.auth import Role
from aiplane.wire.system import TokenIn, TokenOut


class Tokens:
    """``/tokens``: API tokens (admin)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str, role: Role | str = Role.MEMBER) -> TokenOut:
        """A new token; its plaintext is in the answer only (it is stored as a hash)."""
        body = TokenIn(name=name, role=Role(role)).model_dump(mode="json")
        return self._http.call(TokenOut, "POST", "/tokens", body=body)
