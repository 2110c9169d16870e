from __future__ import annotations

import asyncio

from starlette.datastructures import Headers

from aiplane.gateway.auth import AuthCache, credential
from tests.gateway.fakes import caller


def test_credential_from_bearer_or_api_key():
    assert credential(Headers({"authorization": "Bearer abc"})) == "abc"
    assert credential(Headers({"authorization": "bearer  abc "})) == "abc"
    assert credential(Headers({"x-api-key": "k"})) == "k"
    assert credential(Headers({"authorization": "Basic abc", "x-api-key": "k"})) == "k"
    assert credential(Headers({"authorization": "Bearer "})) is None
    assert credential(Headers({"x-api-key": " "})) is None
    assert credential(Headers({})) is None


def test_answers_and_misses_are_kept_for_the_ttl_and_the_cache_is_bounded():
    asked: list[str] = []
    alice = caller("alice")
    now = [100.0]

    def authenticate(token: str):
        asked.append(token)
        return alice if token == "good" else None

    cache = AuthCache(authenticate, ttl_s=5.0, clock=lambda: now[0], max_entries=3)

    async def run() -> None:
        assert await cache.caller("good") is alice
        assert await cache.caller("bad") is None
        assert await cache.caller("good") is alice
        assert await cache.caller("bad") is None
        assert asked == ["good", "bad"]
        now[0] += 5.0  # expired: asked again
        assert await cache.caller("good") is alice
        assert asked == ["good", "bad", "good"]
        for token in ("a", "b", "c", "d"):
            await cache.caller(token)
        assert len(cache._entries) <= 3

    asyncio.run(run())
