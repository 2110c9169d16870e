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


def create_token(store: Store, name: str, role: Role, now: float) -> tuple[TokenRecord, str]:
    """A new token; the plaintext is returned once and never stored."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = TokenRecord(new_id("tok-", now), name, role, hash_token(plaintext), now)
    store.tokens.add(record)
    return record, plaintext


def ensure_admin_token(store: Store, now: float) -> str | None:
    """On first start create the admin token and return it; afterwards return None."""
    if store.tokens.count() > 0:
        return None
    _, plaintext = create_token(store, "admin", Role.ADMIN, now)
    return plaintext


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
        """A new token and its plaintext, which is shown this once."""
        return create_token(self._store, name, role, self._clock())

    def ensure_admin(self) -> str | None:
        """The admin token's plaintext on the very first start, else None."""
        return ensure_admin_token(self._store, self._clock())

    def authorize(self, token: str | None, role: Role) -> TokenRecord:
        """The caller of ``token``, who must hold at least ``role``."""
        record = self._verifier.verify(token)
        if not record.role.allows(role):
            raise PermissionDeniedError(
                f"this needs the {role} role; token {record.name!r} has {record.role}"
            )
        return record
