from __future__ import annotations

from aiplane.client._http import Http
from aiplane.wire.system import TokenIn, TokenOut


class Tokens:
    """``/tokens``: API tokens."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(
        self, name: str, principal: str | None = None, expires_in_s: float | None = None
    ) -> TokenOut:
        """A new token (for ``principal``, default the caller); its plaintext is in the answer
        only (it is stored as a hash)."""
        body = TokenIn(name=name, principal=principal, expires_in_s=expires_in_s)
        return self._http.call(TokenOut, "POST", "/tokens", body=body.model_dump(mode="json"))
