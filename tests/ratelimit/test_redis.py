"""What only the Redis member does: keys that expire, a period's length from its name, and a
clear error without the extra."""

from __future__ import annotations

import builtins
from typing import Any

import pytest
import redis

from aiplane.core.errors import MissingDependencyError
from aiplane.ratelimit.redis import CLOCK_SLACK_S, RedisRateLimiter, period_seconds

from .conftest import REDIS_URL

pytestmark = pytest.mark.anyio


@pytest.fixture
async def limiter(prefix: str) -> Any:
    made = RedisRateLimiter(REDIS_URL, prefix=prefix)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield made
    finally:
        await made.close()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_a_bucket_expires_once_it_would_be_full_again(limiter: RedisRateLimiter) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for _ in range(3):
        await limiter.take("tok_a", 0.01, 10, 0.0)  # 3 tokens short: 300 s to refill

    ttl = client.ttl(limiter.bucket_key("tok_a"))

    assert 300 + CLOCK_SLACK_S - 5 <= ttl <= 300 + CLOCK_SLACK_S
    client.close()


async def test_a_refusal_writes_nothing(limiter: RedisRateLimiter) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    await limiter.take("tok_a", 1.0, 1, 0.0)
    before = client.hgetall(limiter.bucket_key("tok_a"))

    assert await limiter.take("tok_a", 1.0, 1, 0.5) == pytest.approx(0.5)
    assert client.hgetall(limiter.bucket_key("tok_a")) == before
    client.close()


async def test_a_counter_expires_after_two_periods(limiter: RedisRateLimiter) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    await limiter.consume("tok_a", "2026-12-03", 5, 10)
    key = limiter.counter_key("tok_a", "2026-12-03")
    first = client.ttl(key)
    await limiter.consume("tok_a", "2026-12-03", 5, 10)

    assert 2 * 86_400 - 5 <= first <= 2 * 86_400
    assert client.ttl(key) <= first  # adding does not push the expiry out
    # Reading and refusing make no key.
    await limiter.consume("tok_b", "2026-12-03", 0, 10)
    await limiter.consume("tok_b", "2026-12-03", 11, 10)
    assert not client.exists(limiter.counter_key("tok_b", "2026-12-03"))
    client.close()


@pytest.mark.parametrize(
    ("period", "seconds"),
    [
        ("2026", 366 * 86_400),
        ("2026-12", 31 * 86_400),
        ("2026-W49", 7 * 86_400),
        ("2026-12-03", 86_400),
        ("2026-12-03T14", 3_600),
        ("2026-12-03T14:05", 60),
        ("billing-cycle-7", 86_400),
    ],
)
def test_a_period_lasts_what_its_name_says(period: str, seconds: int) -> None:
    assert period_seconds(period) == seconds


def test_without_the_redis_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def refuse_redis(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "redis.asyncio" or name.startswith("redis"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_redis)

    with pytest.raises(MissingDependencyError, match=r"pip install 'aiplane\[redis\]'"):
        RedisRateLimiter(REDIS_URL)


async def test_a_server_that_does_not_answer_is_an_error_not_a_hang() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1", timeout_s=1.0)

    with pytest.raises(redis.ConnectionError):
        await limiter.take("tok_a", 1.0, 1, 0.0)
    await limiter.close()
