from __future__ import annotations

import builtins
from urllib.parse import quote

from aiplane.client._http import Http
from aiplane.wire.identity import TokenItem
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

    def list(
        self, principal: str | None = None, *, every: bool = False
    ) -> builtins.list[TokenItem]:
        """The caller's tokens; ``principal``'s or ``every`` principal's (admins)."""
        params = {"principal": principal, "all": "true" if every else None}
        return self._http.call_list(TokenItem, "GET", "/tokens", params)

    def revoke(self, token_id: str) -> None:
        """Revoke at once: the token is refused from the next request on."""
        self._http.call_empty("DELETE", f"/tokens/{quote(token_id, safe='')}")
