"""The rate limiter contract: every member (memory, Redis) must pass all of it. Time is the
``now`` each call is given, so nothing here waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from aiplane.ratelimit.base import RateLimiter

pytestmark = pytest.mark.anyio

T0 = 1_764_000_000.0  # an epoch time in seconds, as the gateway passes it


async def takes(limiter: RateLimiter, n: int, key: str = "tok_a", now: float = T0) -> list[float]:
    return [await limiter.take(key, 2.0, 3, now) for _ in range(n)]


async def test_a_new_bucket_is_full_then_refuses_with_the_wait_for_one_token(
    limiter: RateLimiter,
) -> None:
    assert await takes(limiter, 5) == [0.0, 0.0, 0.0, 0.5, 0.5]
    # A refusal takes nothing: a quarter second on, a quarter second is left.
    assert await limiter.take("tok_a", 2.0, 3, T0 + 0.25) == pytest.approx(0.25)


async def test_the_bucket_refills_at_its_rate_up_to_its_burst(limiter: RateLimiter) -> None:
    await takes(limiter, 3)

    assert await takes(limiter, 2, now=T0 + 0.5) == [0.0, pytest.approx(0.5)]
    # Long idle fills it to the burst, no further.
    assert await takes(limiter, 4, now=T0 + 3600) == [0.0, 0.0, 0.0, pytest.approx(0.5)]


async def test_fractional_refill_carries_over(limiter: RateLimiter) -> None:
    await takes(limiter, 3)

    # 0.3 s is 0.6 of a token: not enough, and the wait is for the other 0.4.
    assert await limiter.take("tok_a", 2.0, 3, T0 + 0.3) == pytest.approx(0.2)
    assert await limiter.take("tok_a", 2.0, 3, T0 + 0.5) == 0.0
    assert await limiter.take("tok_a", 2.0, 3, T0 + 0.5) == pytest.approx(0.5)


async def test_a_clock_behind_the_stored_one_refills_nothing(limiter: RateLimiter) -> None:
    await takes(limiter, 3, now=T0 + 10)

    assert await limiter.take("tok_a", 2.0, 3, T0) == pytest.approx(0.5)
    assert await limiter.take("tok_a", 2.0, 3, T0 + 10.5) == 0.0


async def test_keys_have_independent_buckets(limiter: RateLimiter) -> None:
    await takes(limiter, 3, key="tok_a")

    assert await takes(limiter, 4, key="tok_b") == [0.0, 0.0, 0.0, 0.5]
    assert await limiter.take("tok_a", 2.0, 3, T0) == 0.5


async def test_concurrent_takes_never_hand_out_more_than_the_burst(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    gateways = [make_limiter() for _ in range(3)]

    waits = await asyncio.gather(*(gateways[i % 3].take("tok_a", 1.0, 10, T0) for i in range(30)))

    assert sum(1 for w in waits if w == 0.0) == 10


async def test_two_limiters_share_buckets_and_counters(
    make_limiter: Callable[[], RateLimiter],
) -> None:
    one, other = make_limiter(), make_limiter()

    assert await one.take("tok_a", 2.0, 2, T0) == 0.0
    assert await other.take("tok_a", 2.0, 2, T0) == 0.0
    assert await one.take("tok_a", 2.0, 2, T0) == 0.5
    assert await one.consume("tok_a", "2026-12-03", 7, 10) == 7
    assert await other.consume("tok_a", "2026-12-03", 4, 10) is None
    assert await other.consume("tok_a", "2026-12-03", 3, 10) == 10


async def test_consume_adds_up_to_the_limit_and_refuses_past_it(limiter: RateLimiter) -> None:
    assert await limiter.consume("tok_a", "2026-12-03", 400, 1000) == 400
    assert await limiter.consume("tok_a", "2026-12-03", 600, 1000) == 1000
    assert await limiter.consume("tok_a", "2026-12-03", 1, 1000) is None
    # A refusal adds nothing: the total is where it was.
    assert await limiter.consume("tok_a", "2026-12-03", 0, 1000) == 1000


async def test_a_refused_amount_leaves_room_for_a_smaller_one(limiter: RateLimiter) -> None:
    await limiter.consume("tok_a", "2026-12-03", 900, 1000)

    assert await limiter.consume("tok_a", "2026-12-03", 200, 1000) is None
    assert await limiter.consume("tok_a", "2026-12-03", 100, 1000) == 1000


async def test_zero_reads_the_total_even_of_an_unseen_counter(limiter: RateLimiter) -> None:
    assert await limiter.consume("tok_a", "2026-12-03", 0, 1000) == 0
    await limiter.consume("tok_a", "2026-12-03", 5, 1000)

    assert await limiter.consume("tok_a", "2026-12-03", 0, 1000) == 5
    # Reading a counter over a limit lowered since still says its total.
    assert await limiter.consume("tok_a", "2026-12-03", 0, 3) == 5


async def test_counters_are_per_key_and_per_period(limiter: RateLimiter) -> None:
    await limiter.consume("tok_a", "2026-12-03", 10, 10)

    assert await limiter.consume("tok_b", "2026-12-03", 10, 10) == 10
    assert await limiter.consume("tok_a", "2026-12-04", 10, 10) == 10
    # The previous period is still there to read (members keep at least two).
    assert await limiter.consume("tok_a", "2026-12-03", 0, 10) == 10


async def test_keys_and_periods_with_colons_do_not_collide(limiter: RateLimiter) -> None:
    await limiter.consume("a:b", "c", 1, 10)

    assert await limiter.consume("b", "c:a", 0, 10) == 0
    assert await limiter.consume("a", "b:c", 0, 10) == 0


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [(0.0, 1, "rate_per_s"), (float("inf"), 1, "rate_per_s"), (1.0, 0, "burst")],
)
async def test_a_bucket_that_could_never_refill_or_hold_a_token_is_refused(
    limiter: RateLimiter, rate: float, burst: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await limiter.take("tok_a", rate, burst, T0)


async def test_a_negative_amount_is_refused(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="amount must be >= 0"):
        await limiter.consume("tok_a", "2026-12-03", -1, 10)
