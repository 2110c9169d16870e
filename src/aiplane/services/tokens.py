"""API tokens: created once, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

from aiplane.core.auth import Role, TokenRecord
from aiplane.core.errors import AuthenticationError, PermissionDeniedError
from aiplane.services.ids import new_id
from aiplane.store.base import Store

TOKEN_PREFIX = "aip_"  # noqa: S105 (a prefix that marks our tokens, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenVerifier:
    """Looks tokens up by hash, with a short cache so a busy API does not hit the store for
    every request. Revocation therefore takes effect within ``ttl_s``."""

    def __init__(self, store: Store, ttl_s: float = 5.0) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[TokenRecord, float]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str | None) -> TokenRecord:
        if not token:
            raise AuthenticationError("missing bearer token (Authorization: Bearer <token>)")
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = self._store.tokens.by_hash(digest)
        if record is None or record.revoked:
            raise AuthenticationError("invalid or revoked token")
        with self._lock:
            self._cache[digest] = (record, now + self._ttl_s)
        return record


class TokenService:
    """Tokens and who the caller is: what the API's authentication and ``/tokens`` call."""

    def __init__(
        self, store: Store, clock: Callable[[], float], verifier: TokenVerifier | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._verifier = verifier if verifier is not None else TokenVerifier(store)

    def create(self, name: str, role: Role) -> tuple[TokenRecord, str]:
        """A new token and its plaintext, which is returned this once and never stored."""
        now = self._clock()
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(new_id("tok-", now), name, role, hash_token(plaintext), now)
        self._store.tokens.add(record)
        return record, plaintext

    def ensure_admin(self) -> str | None:
        """On the very first start, create the admin token and return its plaintext; else
        None."""
        if self._store.tokens.count() > 0:
            return None
        _, plaintext = self.create("admin", Role.ADMIN)
        return plaintext

    def authorize(self, token: str | None, role: Role) -> TokenRecord:
        """The caller of ``token``, who must hold at least ``role``."""
        record = self._verifier.verify(token)
        if not record.role.allows(role):
            raise PermissionDeniedError(
                f"this needs the {role} role; token {record.name!r} has {record.role}"
            )
        return record
