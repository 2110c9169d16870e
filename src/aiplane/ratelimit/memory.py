"""``MemoryRateLimiter``: buckets and counters in this process, for ``aiplane up`` alone and
for tests.

One event loop calls it and nothing in it awaits, so each call is atomic without a lock.

Bounded: a bucket that has refilled to full is the same as no bucket (a bucket first seen is
full), so idle full buckets are dropped when the table has doubled since the last sweep; what
stays is the keys seen within ``burst / rate_per_s`` seconds. Counters keep two periods per
key, the newest and the one before it, as Redis keeps them for two periods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplane.ratelimit.base import RateLimiter
from aiplane.ratelimit.buckets import check_bucket, check_consume

# Below this many buckets the table is never swept: a sweep would cost more than it saves.
MIN_SWEEP = 10_000


class _Bucket:
    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, tokens: float, at: float, rate: float, burst: int) -> None:
        self.tokens = tokens
        self.at = at
        self.rate = rate
        self.burst = burst

    def level(self, now: float) -> float:
        """The tokens there at ``now``: refilled since ``at``, never above ``burst``. A ``now``
        before ``at`` (another caller's clock ran ahead) refills nothing."""
        return min(float(self.burst), self.tokens + max(0.0, now - self.at) * self.rate)


class MemoryRateLimiter:
    def __init__(self, min_sweep: int = MIN_SWEEP) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._counters: dict[str, dict[str, int]] = {}
        self._min_sweep = min_sweep
        self._sweep_at = min_sweep

    def __len__(self) -> int:
        """Buckets held (what the sweep bounds)."""
        return len(self._buckets)

    async def take(self, key: str, rate_per_s: float, burst: int, now: float) -> float:
        check_bucket(rate_per_s, burst)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(float(burst), now, rate_per_s, burst)
        bucket.rate, bucket.burst = rate_per_s, burst
        tokens = bucket.level(now)
        if tokens < 1.0:
            return (1.0 - tokens) / rate_per_s  # nothing taken, nothing to store
        bucket.tokens, bucket.at = tokens - 1.0, max(now, bucket.at)
        return 0.0

    async def consume(self, key: str, period: str, amount: int, limit: int) -> int | None:
        check_consume(amount, limit)
        periods = self._counters.get(key)
        total = periods.get(period, 0) if periods is not None else 0
        if amount == 0:
            return total
        if total + amount > limit:
            return None
        if periods is None:
            periods = self._counters[key] = {}
        elif period not in periods and len(periods) >= 2:
            del periods[next(iter(periods))]  # the oldest period this key used
        periods[period] = total + amount
        return total + amount

    async def close(self) -> None:
        pass

    def _sweep(self, now: float) -> None:
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if bucket.level(now) < bucket.burst
        }
        # Amortised: the next sweep waits until the table has doubled again.
        self._sweep_at = max(self._min_sweep, 2 * len(self._buckets))


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: RateLimiter = MemoryRateLimiter()
