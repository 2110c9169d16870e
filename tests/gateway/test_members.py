"""The gateway over the real members: the Redis rate limiter (the server on 127.0.0.1:6379)
and the local inference log, mounted in another app that runs its start and stop as the
control plane's process does; and a limiter that fails."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import redis
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Mount

from aiplane.core.serving.endpoints import KeyLimits
from aiplane.gateway import create_gateway
from aiplane.ratelimit.redis import RedisRateLimiter
from aiplane.streams.local import LocalInferenceLog
from tests.gateway.conftest import ALICE
from tests.gateway.fakes import FakeControl, MemoryLimiter, replica, route, spec, table
from tests.gateway.servers import OipUpstream, Served

REDIS_URL = "redis://127.0.0.1:6379/0"
BODY = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
INFER = "/v2/models/fraud/infer"


def test_redis_limits_and_the_local_log_behind_a_mounted_gateway(control, serve, tmp_path: Path):
    served = serve(OipUpstream("edge").app)
    control.set_table(
        table(route(spec(limits=KeyLimits(requests_per_day=3)), [replica("run-1", served.address)]))
    )
    prefix = f"aiplane:test-gateway:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
    log = LocalInferenceLog(tmp_path / "log")
    gateway = create_gateway(
        control, limiter, log, registry=CollectorRegistry(), rng=random.Random(1)
    )
    found: list[int] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.stop()
        found.extend(p.record.status for p in await log.read())
        await limiter.close()
        await log.close()

    outer = Starlette(routes=[Mount("/", app=gateway.app)], lifespan=lifespan)
    try:
        with Served(outer, lifespan="on") as server, httpx.Client(base_url=server.url) as http:
            answers = [http.post(INFER, json=BODY, headers={"x-api-key": ALICE}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert found == [200, 200, 200]
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        assert keys  # the counter was in Redis
        client.delete(*keys)
        client.close()


class BrokenLimiter(MemoryLimiter):
    async def take(self, key: str, rate_per_s: float, burst: int, now: float) -> float:  # noqa: ARG002
        raise ConnectionError("redis went away")


def test_a_failing_limiter_lets_requests_through_and_is_counted(
    control: FakeControl, serve, gateway
):
    served = serve(OipUpstream("edge").app)
    control.set_table(
        table(
            route(
                spec(limits=KeyLimits(requests_per_s=1, burst=1)),
                [replica("run-1", served.address)],
            )
        )
    )
    gw = gateway(limiter=BrokenLimiter())
    with httpx.Client(base_url=gw.url, headers={"x-api-key": ALICE}) as http:
        answers = [http.post(INFER, json=BODY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert (
        gw.sample(
            "aiplane_gateway_errors_total", endpoint="fraud", site="", reason="limiter_unavailable"
        )
        == 3
    )
