"""The rate limiter protocol: token buckets and period quotas shared by every gateway that
uses the same member (one process in memory; all of them through Redis).

Async: the gateway calls it on its event loop for every request. Every member passes
``tests/ratelimit/test_contract.py``.
"""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    async def take(self, key: str, rate_per_s: float, burst: int, now: float) -> float:
        """Take one token from ``key``'s bucket (``burst`` deep, refilled at ``rate_per_s``;
        full when first seen). 0.0 when it was taken; else the seconds until one will be there
        (nothing is taken then)."""
        ...

    async def consume(self, key: str, period: str, amount: int, limit: int) -> int | None:
        """Add ``amount`` to ``key``'s counter for ``period`` (a name such as "2026-12-03"),
        unless that takes it over ``limit``: the new total, or None when refused (nothing is
        added then). ``amount`` 0 reads the total. A member may let counters of past periods
        expire."""
        ...

    async def close(self) -> None: ...
