"""Per-key limits: the endpoint's token bucket, requests per UTC day and, for LLM endpoints,
tokens per UTC day, through the shared ``RateLimiter``."""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from aiplane.core.serving.endpoints import KeyLimits
from aiplane.ratelimit.base import RateLimiter


class LimiterUnavailableError(Exception):
    """The rate limiter could not answer (Redis down, a timeout): the gateway serves the
    request unlimited rather than refuse every caller while the limiter is away."""


@dataclass(frozen=True)
class Refusal:
    reason: str  # "rate_limited" or "quota"
    message: str
    retry_after_s: int  # whole seconds, rounded up (Retry-After)


@functools.lru_cache(maxsize=4)
def _day(number: int) -> str:
    return datetime.fromtimestamp(number * 86400, UTC).strftime("%Y-%m-%d")


def utc_day(now: float) -> str:
    # By the day's number, cached: formatting a date on every request showed in the profile.
    return _day(int(now // 86400))


def seconds_to_midnight(now: float) -> int:
    return max(1, math.ceil(86400.0 - now % 86400.0))


class Limits:
    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def admit(self, key: str, limits: KeyLimits, llm: bool, now: float) -> Refusal | None:
        """Take the request's share of ``key``'s limits; a Refusal when one is spent.
        Raises LimiterUnavailableError when the limiter fails."""
        try:
            return await self._admit(key, limits, llm, now)
        except Exception as exc:
            raise LimiterUnavailableError(f"the rate limiter failed: {exc!r}") from exc

    async def _admit(self, key: str, limits: KeyLimits, llm: bool, now: float) -> Refusal | None:
        if limits.requests_per_s is not None:
            burst = limits.burst or max(1, math.ceil(limits.requests_per_s))
            wait = await self._limiter.take(key, limits.requests_per_s, burst, now)
            if wait > 0:
                return Refusal(
                    "rate_limited",
                    f"rate limit of {limits.requests_per_s:g} requests/s (burst {burst}) "
                    f"reached for this key; retry in {wait:.3f} s",
                    max(1, math.ceil(wait)),
                )
        if llm and limits.tokens_per_day is not None:
            day = utc_day(now)
            used = await self._limiter.consume(f"{key}:tokens", day, 0, limits.tokens_per_day)
            if used is None or used >= limits.tokens_per_day:
                return Refusal(
                    "quota",
                    f"daily quota of {limits.tokens_per_day} tokens used for this key "
                    f"(UTC day {day})",
                    seconds_to_midnight(now),
                )
        if limits.requests_per_day is not None:
            day = utc_day(now)
            total = await self._limiter.consume(f"{key}:requests", day, 1, limits.requests_per_day)
            if total is None:
                return Refusal(
                    "quota",
                    f"daily quota of {limits.requests_per_day} requests used for this key "
                    f"(UTC day {day})",
                    seconds_to_midnight(now),
                )
        return None

    async def charge_tokens(self, key: str, limits: KeyLimits, tokens: int, now: float) -> None:
        """Count an answer's tokens. The answer is already given, so they are counted even
        past the quota: the next request is then refused."""
        if limits.tokens_per_day is None or tokens <= 0:
            return
        day = utc_day(now)
        counter = f"{key}:tokens"
        try:
            if await self._limiter.consume(counter, day, tokens, limits.tokens_per_day) is None:
                await self._limiter.consume(counter, day, tokens, sys.maxsize)
        except Exception as exc:
            raise LimiterUnavailableError(f"the rate limiter failed: {exc!r}") from exc
