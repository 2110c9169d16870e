"""``RedisRateLimiter``: buckets and counters in Redis, shared by every gateway that points at
the same server and prefix (the ``redis`` extra: ``pip install 'aiplane[redis]'``).

Each call is one Lua script, so two gateways taking from one bucket, or adding to one
counter, never both see the same tokens or the same headroom:

- A bucket is a hash ``<prefix>b:<key>`` of (tokens, at). The script refills it from the
  stored state to the caller's ``now`` and takes a token or says how long to wait. Time is the
  caller's, never Redis's (tests control it; gateways share NTP time): a ``now`` behind the
  stored one refills nothing. The hash expires once it would be full again (then it is the
  same as no bucket), plus a minute of slack for clocks that disagree.
- A counter is ``<prefix>c:<len(period)>:<period>:<key>`` (the length keeps a period and a
  key that contain ``:`` apart), added to with INCRBY only when the total stays within the
  limit, and set to expire two periods after it is made. The period's length comes from its
  name's ISO shape ("2026" a year, "2026-12" a month, "2026-W49" a week, "2026-12-03" a
  day, "2026-12-03T14" an hour, "2026-12-03T14:05" a minute); any other name counts as a
  day, the period of the endpoints' quotas.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiplane.core.errors import MissingDependencyError
from aiplane.ratelimit.base import RateLimiter
from aiplane.ratelimit.buckets import check_bucket, check_consume

INSTALL_HINT = "pip install 'aiplane[redis]'"

# Seconds a bucket is kept past the moment it would be full: a gateway whose clock runs
# behind Redis's must not find it gone (full) too early.
CLOCK_SLACK_S = 60

# Numbers cross the script boundary as strings: Redis turns a Lua number it is given back
# into an integer, and %.17g keeps every bit of a double.
TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
local at = tonumber(saved[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
elseif now > at then
  tokens = tokens + (now - at) * rate
  at = now
end
tokens = math.min(burst, tokens)
if tokens < 1 then
  return string.format('%.17g', (1 - tokens) / rate)
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'at', string.format('%.17g', at))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + tonumber(ARGV[4]))
return '0'
"""

CONSUME = """
local amount = tonumber(ARGV[1])
local total = tonumber(redis.call('GET', KEYS[1])) or 0
if amount == 0 then
  return total
end
if total + amount > tonumber(ARGV[2]) then
  return false
end
total = redis.call('INCRBY', KEYS[1], amount)
if redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return total
"""

_DAY = 86_400
_PERIODS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"\d{4}"), 366 * _DAY),
    (re.compile(r"\d{4}-\d{2}"), 31 * _DAY),
    (re.compile(r"\d{4}-W\d{2}"), 7 * _DAY),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), _DAY),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}"), 3_600),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"), 60),
]


def period_seconds(period: str) -> int:
    """How long the period ``period`` names lasts, at most (a day when its shape is not
    known)."""
    for pattern, seconds in _PERIODS:
        if pattern.fullmatch(period):
            return seconds
    return _DAY


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str = "aiplane:rl:", timeout_s: float = 2.0) -> None:
        try:
            import redis.asyncio
        except ImportError as exc:
            raise MissingDependencyError(
                f"rate limits in Redis ({url}) need the redis package: {INSTALL_HINT}"
            ) from exc
        self.prefix = prefix
        # Connections are made on first use, on the caller's event loop. The limiter is on
        # every request's path: a Redis that does not answer is an error within
        # ``timeout_s`` (the gateway decides what a request gets then), never a hang.
        self._client: Any = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        self._take = self._client.register_script(TAKE)
        self._consume = self._client.register_script(CONSUME)

    def bucket_key(self, key: str) -> str:
        return f"{self.prefix}b:{key}"

    def counter_key(self, key: str, period: str) -> str:
        return f"{self.prefix}c:{len(period)}:{period}:{key}"

    async def take(self, key: str, rate_per_s: float, burst: int, now: float) -> float:
        check_bucket(rate_per_s, burst)
        wait = await self._take(
            keys=[self.bucket_key(key)], args=[repr(rate_per_s), burst, repr(now), CLOCK_SLACK_S]
        )
        return float(wait)

    async def consume(self, key: str, period: str, amount: int, limit: int) -> int | None:
        check_consume(amount, limit)
        total = await self._consume(
            keys=[self.counter_key(key, period)],
            args=[amount, limit, 2 * period_seconds(period)],
        )
        return None if total is None else int(total)

    async def close(self) -> None:
        await self._client.aclose()


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: RateLimiter = RedisRateLimiter("redis://127.0.0.1:6379")
