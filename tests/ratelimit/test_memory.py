"""The memory limiter stays bounded: full buckets are dropped, busy ones kept."""

from __future__ import annotations

import pytest

from aiplane.ratelimit.memory import MemoryRateLimiter

pytestmark = pytest.mark.anyio


async def test_idle_full_buckets_are_swept_and_busy_ones_kept() -> None:
    limiter = MemoryRateLimiter(min_sweep=100)
    for i in range(99):
        await limiter.take(f"idle{i}", 1.0, 5, 0.0)  # one token short: full at 1.0
    for _ in range(5):
        await limiter.take("busy", 1.0, 5, 0.0)  # empty: full at 5.0
    assert len(limiter) == 100

    # The hundred-and-first key sweeps: at 4.0 the idle buckets are full, "busy" is not.
    await limiter.take("new", 1.0, 100, 4.0)

    assert len(limiter) == 2
    # Dropping a full bucket changed nothing: it is full when seen again.
    assert [await limiter.take("idle0", 1.0, 5, 4.0) for _ in range(6)][-2:] == [0.0, 1.0]
    assert [await limiter.take("busy", 1.0, 5, 4.0) for _ in range(5)] == [0.0] * 4 + [1.0]


async def test_a_key_keeps_two_periods_of_counters() -> None:
    limiter = MemoryRateLimiter()
    for day, amount in (("2026-12-01", 1), ("2026-12-02", 2), ("2026-12-03", 3)):
        await limiter.consume("tok_a", day, amount, 10)

    assert await limiter.consume("tok_a", "2026-12-01", 0, 10) == 0
    assert await limiter.consume("tok_a", "2026-12-02", 0, 10) == 2
    assert await limiter.consume("tok_a", "2026-12-03", 0, 10) == 3
