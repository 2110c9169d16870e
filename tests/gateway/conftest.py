from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from aiplane.core.auth import TeamRole
from aiplane.gateway import Gateway, GatewaySettings, create_gateway
from tests.gateway.fakes import FakeControl, MemoryLimiter, MemoryLog, caller
from tests.gateway.servers import Served

ALICE = "alice-token"  # a member of team ml, the endpoints' team
BOB = "bob-token"  # a member of team web only


@pytest.fixture
def control() -> FakeControl:
    fake = FakeControl()
    fake.tokens[ALICE] = caller("alice", {"ml": TeamRole.MEMBER})
    fake.tokens[BOB] = caller("bob", {"web": TeamRole.MEMBER})
    return fake


@pytest.fixture
def serve() -> Iterator[Callable[[ASGIApp], Served]]:
    """Serves an upstream app on a free port; every one started is stopped at the end."""
    started: list[Served] = []

    def start(app: ASGIApp) -> Served:
        served = Served(app)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


class Running:
    def __init__(
        self, gateway: Gateway, served: Served, log: MemoryLog, registry: CollectorRegistry
    ) -> None:
        self.gateway = gateway
        self.served = served
        self.log = log
        self.registry = registry

    @property
    def url(self) -> str:
        return self.served.url

    def stop(self) -> None:
        """Stop the server: its lifespan stops the gateway (log flushed, last report sent)."""
        self.served.stop()

    def sample(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return value if value is not None else 0.0


@pytest.fixture
def gateway(control: FakeControl) -> Iterator[Callable[..., Running]]:
    """Starts the gateway over ``control`` under uvicorn (lifespan on), seeded."""
    started: list[Running] = []

    def start(settings: GatewaySettings | None = None, **kwargs: Any) -> Running:
        log = kwargs.pop("log", None) or MemoryLog()
        limiter = kwargs.pop("limiter", None) or MemoryLimiter()
        registry = CollectorRegistry()
        gw = create_gateway(
            kwargs.pop("control", None) or control,
            limiter,
            log,
            settings or GatewaySettings(),
            rng=random.Random(7),
            registry=registry,
            **kwargs,
        )
        running = Running(gw, Served(gw.app, lifespan="on"), log, registry)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
