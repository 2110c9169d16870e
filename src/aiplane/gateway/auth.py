"""Credentials from a request, and the callers they stand for, cached for a few seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.datastructures import Headers

from aiplane.core.auth import Caller

# Bounded so that a flood of random keys cannot grow the cache without end.
MAX_ENTRIES = 10_000


def credential(headers: Headers) -> str | None:
    """The bearer token of ``Authorization``, else ``x-api-key``; None when neither is there."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() or None if key is not None else None


class AuthCache:
    """``authenticate`` answers (misses too) for ``ttl_s`` seconds. The port is sync (it may
    reach a database or the API), so a miss asks it in a thread."""

    def __init__(
        self,
        authenticate: Callable[[str], Caller | None],
        ttl_s: float,
        clock: Callable[[], float],
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._authenticate = authenticate
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, Caller | None]] = {}

    async def caller(self, token: str) -> Caller | None:
        now = self._clock()
        hit = self._entries.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await asyncio.to_thread(self._authenticate, token)
        self._remember(token, found, now)
        return found

    def _remember(self, token: str, found: Caller | None, now: float) -> None:
        self._entries.pop(token, None)
        if len(self._entries) >= self._max:
            for key in [k for k, (until, _) in self._entries.items() if until <= now]:
                del self._entries[key]
            while len(self._entries) >= self._max:
                # Dicts keep insertion order: the oldest entry goes first.
                del self._entries[next(iter(self._entries))]
        self._entries[token] = (now + self._ttl_s, found)
