"""Who is calling, and may they: the enforcement point in front of ``core.auth.can``.

Every service method an edge calls takes the :class:`Caller` that ``authenticate`` returned
and asks ``check`` before it reads or changes anything. A refusal is recorded in the audit
log and raised: ``NotFoundError`` when the policy hides the resource (another team's job is
not disclosed, not even as forbidden), ``PermissionDeniedError`` otherwise.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from aiplane.core.auth import Action, Caller, Decision, Resource, TokenRecord, can
from aiplane.core.auth import visible_teams as _visible_teams
from aiplane.core.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from aiplane.oidc.base import Claims, TokenVerifier
from aiplane.services.audit import ANONYMOUS, AuditLog
from aiplane.store.base import Store

TOKEN_PREFIX = "aip_"  # noqa: S105 (a prefix that marks our tokens, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator(Protocol):
    """One way of proving who one is: an API token, an OIDC JWT."""

    def accepts(self, credential: str) -> bool:
        """Whether ``credential`` is of this kind (the first authenticator that accepts a
        credential decides on it)."""
        ...

    def authenticate(self, credential: str) -> Caller:
        """The caller, or AuthenticationError saying why not."""
        ...


class TokenAuthenticator:
    """API tokens, looked up by hash with a short cache so that a busy API does not read the
    store on every request. Expiry is checked on every request; revocation and changes to a
    principal made through this process drop the cache at once (``forget``), and those made
    by another process are seen within ``ttl_s``.

    A read that began before a ``forget`` must not put what it read back into the cache:
    each ``forget`` starts a new generation, and a load is cached only if the generation it
    began in is still current (else a revoke racing a request would be undone for ``ttl_s``)."""

    def __init__(self, store: Store, clock: Callable[[], float], ttl_s: float = 5.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[Caller, TokenRecord, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def accepts(self, credential: str) -> bool:
        return credential.startswith(TOKEN_PREFIX)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def authenticate(self, credential: str) -> Caller:
        digest = hash_token(credential)
        mono = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
            generation = self._generation
        if cached is not None and cached[2] > mono:
            caller, record = cached[0], cached[1]
        else:
            caller, record = self._load(digest)
            with self._lock:
                if generation == self._generation:
                    self._cache[digest] = (caller, record, mono + self._ttl_s)
        why = record.unusable_reason(self._clock())
        if why is not None:
            raise AuthenticationError(why)
        if caller.principal.disabled:
            raise AuthenticationError(f"principal {caller.name!r} is disabled")
        return caller

    def _load(self, digest: str) -> tuple[Caller, TokenRecord]:
        record = self._store.tokens.by_hash(digest)
        if record is None:
            raise AuthenticationError("invalid token")
        principal = self._store.principals.get(record.principal_id)
        return Caller(principal, "token", record.id, record.scope), record


def looks_like_jwt(credential: str) -> bool:
    """Three dot-separated, non-empty parts, and not one of our own tokens."""
    parts = credential.split(".")
    return not credential.startswith(TOKEN_PREFIX) and len(parts) == 3 and all(parts)


class OidcAuthenticator:
    """Bearer JWTs of the configured identity provider: ``verifier`` checks the token (the
    adapter in ``aiplane.oidc``), ``sign_in`` maps its claims to a caller
    (``IdentityService.sign_in``)."""

    def __init__(self, verifier: TokenVerifier, sign_in: Callable[[Claims], Caller]) -> None:
        self._verifier = verifier
        self._sign_in = sign_in

    def accepts(self, credential: str) -> bool:
        return looks_like_jwt(credential)

    def authenticate(self, credential: str) -> Caller:
        return self._sign_in(self._verifier.verify(credential))


class Access:
    def __init__(
        self,
        audit: AuditLog,
        authenticators: Sequence[Authenticator],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._audit = audit
        self._authenticators = tuple(authenticators)
        self._on_change = on_change

    def authenticate(self, credential: str | None) -> Caller:
        """The caller behind a bearer credential; a refusal is audited."""
        if not credential:
            raise AuthenticationError("missing bearer token (Authorization: Bearer <token>)")
        for authenticator in self._authenticators:
            if authenticator.accepts(credential):
                try:
                    return authenticator.authenticate(credential)
                except AuthenticationError as exc:
                    exc.audited = True
                    self._audit.record_now(
                        None,
                        "auth.authenticate",
                        "principal",
                        outcome="denied",
                        detail={"reason": exc.message},
                        actor=ANONYMOUS,
                    )
                    raise
        self._audit.record_now(
            None,
            "auth.authenticate",
            "principal",
            outcome="denied",
            detail={"reason": "not a credential this control plane accepts"},
            actor=ANONYMOUS,
        )
        refused = AuthenticationError("invalid token")
        refused.audited = True
        raise refused

    def decide(self, caller: Caller, action: Action, resource: Resource) -> Decision:
        """The policy's answer, with no side effect (for filtering what a listing shows)."""
        return can(caller, action, resource)

    def check(self, caller: Caller, action: Action, resource: Resource) -> Decision:
        """Allow, or record the refusal and raise it."""
        decision = can(caller, action, resource)
        if decision.allowed:
            return decision
        self._audit.record_now(
            caller,
            str(action),
            str(resource),
            outcome="denied",
            team=resource.team,
            detail={"reason": decision.reason},
        )
        refusal: NotFoundError | PermissionDeniedError
        if decision.hidden:
            refusal = NotFoundError(f"{resource.kind} {resource.id or resource.team} not found")
        else:
            refusal = PermissionDeniedError(decision.reason)
        refusal.audited = True
        raise refusal

    def visible_teams(self, caller: Caller) -> frozenset[str] | None:
        return _visible_teams(caller)

    def changed(self) -> None:
        """Principals, memberships or tokens changed: cached identities are stale."""
        self._on_change()
