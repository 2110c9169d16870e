"""Rate limiter members for the contract suite: memory, and Redis on the real server at
127.0.0.1:6379, each test under its own key prefix, whose keys are deleted after it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis

from aiplane.ratelimit.base import RateLimiter
from aiplane.ratelimit.memory import MemoryRateLimiter
from aiplane.ratelimit.redis import RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def prefix() -> str:
    return f"aiplane-test:{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(
    request: pytest.FixtureRequest, prefix: str
) -> AsyncIterator[Callable[[], RateLimiter]]:
    """Makes a limiter; called again, the new one shares the first one's buckets and
    counters, as another gateway would."""
    made: list[RateLimiter] = []
    if request.param == "memory":
        one = MemoryRateLimiter()
        made.append(one)

        def make() -> RateLimiter:
            return one
    else:

        def make() -> RateLimiter:
            made.append(RedisRateLimiter(REDIS_URL, prefix=prefix))
            return made[-1]

    try:
        yield make
    finally:
        for limiter in made:
            await limiter.close()
        if request.param == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


@pytest.fixture
def limiter(make_limiter: Callable[[], RateLimiter]) -> RateLimiter:
    return make_limiter()
