from __future__ import annotations

import asyncio

from aiplane.core.serving.endpoints import KeyLimits
from aiplane.gateway.limits import Limits, seconds_to_midnight, utc_day
from tests.gateway.fakes import MemoryLimiter

NOON = 1_796_299_200.0  # 2026-12-03 12:00 UTC


def test_utc_day_and_midnight():
    assert utc_day(NOON) == "2026-12-03"
    assert seconds_to_midnight(NOON) == 12 * 3600


def test_bucket_then_daily_requests():
    limits = Limits(MemoryLimiter())
    rules = KeyLimits(requests_per_s=1.0, burst=2, requests_per_day=3)

    async def run() -> None:
        assert await limits.admit("k", rules, False, NOON) is None
        assert await limits.admit("k", rules, False, NOON) is None
        refused = await limits.admit("k", rules, False, NOON)
        assert (
            refused is not None and refused.reason == "rate_limited" and refused.retry_after_s == 1
        )
        assert await limits.admit("k", rules, False, NOON + 1) is None
        quota = await limits.admit("k", rules, False, NOON + 10)
        assert (
            quota is not None and quota.reason == "quota" and quota.retry_after_s == 12 * 3600 - 10
        )
        assert await limits.admit("k", rules, False, NOON + 13 * 3600) is None  # a new UTC day

    asyncio.run(run())


def test_tokens_count_past_the_quota_and_only_for_llm_endpoints():
    limits = Limits(MemoryLimiter())
    rules = KeyLimits(tokens_per_day=10)

    async def run() -> None:
        assert await limits.admit("k", rules, True, NOON) is None
        await limits.charge_tokens("k", rules, 8, NOON)
        assert await limits.admit("k", rules, True, NOON) is None
        await limits.charge_tokens("k", rules, 8, NOON)  # 16: over, counted anyway
        refused = await limits.admit("k", rules, True, NOON)
        assert refused is not None and "10 tokens" in refused.message
        assert await limits.admit("k", rules, False, NOON) is None  # an OIP endpoint

    asyncio.run(run())
