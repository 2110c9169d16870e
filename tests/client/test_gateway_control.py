"""RemoteControl against a real uvicorn server of the API app (its gateway port a fake): the
table at most once a refresh, callers cached, denials and reports sent, and a control plane
that goes away and comes back."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiplane.api.app import create_app
from aiplane.backends.registry import PoolBackends
from aiplane.client import RemoteControl
from aiplane.config import Settings
from aiplane.core.auth import PrincipalKind
from aiplane.core.guards import GuardAction, GuardName
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.serving.guard_hits import GuardHit, GuardStage
from aiplane.core.serving.routes import ReplicaLoad, RequestCount
from aiplane.services.serving_ports import GatewayControl
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.asgi_server import Served
from tests.gateway_control import (
    KNOWN_CALLER,
    KNOWN_TOKEN,
    FakeGatewayControl,
    sample_table,
    with_gateway,
)
from tests.identities import grant


@dataclass
class Tick:
    """A monotonic clock that moves when a test says."""

    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def plane(tmp_path: Path) -> ControlPlane:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
    )


@pytest.fixture
def fake() -> FakeGatewayControl:
    return FakeGatewayControl()


@pytest.fixture
def api(plane: ControlPlane, fake: FakeGatewayControl) -> Iterator[Served]:
    served = Served(create_app(with_gateway(plane.services, fake)))
    served.start()
    yield served
    served.stop()


@pytest.fixture
def token(plane: ControlPlane) -> str:
    headers = grant(plane.services, "gw", global_role="operator", kind=PrincipalKind.SERVICE)
    return headers["Authorization"].split()[1]


@pytest.fixture
def tick() -> Tick:
    return Tick()


@pytest.fixture
def remote(api: Served, token: str, tick: Tick) -> Iterator[RemoteControl]:
    control = RemoteControl(api.url, token, clock=tick, timeout_s=5.0)
    yield control
    control.close()


def test_it_is_the_gateways_control_port(remote: RemoteControl) -> None:
    port: GatewayControl = remote  # mypy holds it to the protocol
    assert port.table() == sample_table()


def test_the_table_is_fetched_at_most_once_a_refresh(
    remote: RemoteControl, fake: FakeGatewayControl, tick: Tick
) -> None:
    assert remote.table() == sample_table()
    tick.now += 0.5
    fake.current = sample_table(built_at=2000.0)
    assert remote.table().built_at == 1000.0
    assert fake.tables == 1
    tick.now += 0.6
    assert remote.table().built_at == 2000.0
    assert fake.tables == 2


def test_guard_hits_reach_the_control_plane(
    remote: RemoteControl, fake: FakeGatewayControl
) -> None:
    hit = GuardHit(
        KNOWN_CALLER,
        "chat",
        "risk",
        GuardName.PII,
        GuardAction.REDACT,
        GuardStage.REQUEST,
        ("card", "email"),
        3,
        "req-1",
        7.0,
    )
    remote.record_guard_hits([hit, hit])
    assert fake.guard_hits == [hit, hit]


def test_callers_are_cached_for_five_seconds(
    remote: RemoteControl, fake: FakeGatewayControl, tick: Tick
) -> None:
    assert remote.authenticate(KNOWN_TOKEN) == KNOWN_CALLER
    assert remote.authenticate("aip_nobody") is None
    tick.now += 4.9
    assert remote.authenticate(KNOWN_TOKEN) == KNOWN_CALLER
    assert remote.authenticate("aip_nobody") is None
    assert fake.asked == [KNOWN_TOKEN, "aip_nobody"]
    # Revoked meanwhile: refused once the cached answer is old.
    fake.callers.clear()
    tick.now += 0.2
    assert remote.authenticate(KNOWN_TOKEN) is None
    assert fake.asked == [KNOWN_TOKEN, "aip_nobody", KNOWN_TOKEN]


def test_denials_and_reports_reach_the_control_plane(
    remote: RemoteControl, fake: FakeGatewayControl
) -> None:
    remote.record_denial(KNOWN_CALLER, "fraud", "alice may not invoke fraud", 7.0)
    remote.record_denial(None, "fraud", "no token", 8.0)
    assert fake.denials == [
        (KNOWN_CALLER, "fraud", "alice may not invoke fraud", 7.0),
        (None, "fraud", "no token", 8.0),
    ]
    load = ReplicaLoad("fraud", "r-1", 10.0, 5.0, 0.5, 12, 1, 20.0)
    count = RequestCount("fraud", "risk", "alice", "tok-alice", 3600.0, 12, 1, 30, 40)
    remote.report([load], [count])
    assert (fake.loads, fake.counts) == ([load], [count])


def test_a_control_plane_that_goes_away_and_comes_back(
    api: Served,
    remote: RemoteControl,
    fake: FakeGatewayControl,
    tick: Tick,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert remote.table() == sample_table()
    assert remote.authenticate(KNOWN_TOKEN) == KNOWN_CALLER
    api.stop()
    caplog.set_level(logging.WARNING, logger="aiplane.gateway.control")

    for _ in range(3):
        tick.now += 1.0
        assert remote.table() == sample_table()  # the last table stays in force
    assert remote.down is not None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1, said  # said once, not once a retry
    assert "cannot be used" in said[0] and "keeping the routing table built at" in said[0]
    # A caller known before: still served from the old answer; one never seen: refused.
    tick.now += 10.0
    assert remote.authenticate(KNOWN_TOKEN) == KNOWN_CALLER
    assert remote.authenticate("aip_stranger") is None
    # What the gateway reports meanwhile is kept, counts summed, loads the newest.
    first = ReplicaLoad("fraud", "r-1", 10.0, 5.0, 0.5, 12, 1)
    newest = ReplicaLoad("fraud", "r-1", 15.0, 5.0, 1.5, 20, 0)
    count = RequestCount("fraud", "risk", "alice", "tok-alice", 3600.0, 12, 1, 3, 4)
    remote.report([first], [count])
    remote.report([newest], [count])
    remote.record_denial(None, "fraud", "no token", 9.0)
    assert (fake.loads, fake.counts, fake.denials) == ([], [], [])

    api.start()  # the same port
    fake.current = sample_table(built_at=3000.0)
    tick.now += 1.0
    assert remote.table().built_at == 3000.0
    assert remote.down is None
    assert "answering again" in caplog.records[-1].getMessage()
    assert remote.flush()
    assert fake.loads == [newest]
    assert fake.counts == [RequestCount("fraud", "risk", "alice", "tok-alice", 3600.0, 24, 2, 6, 8)]
    assert fake.denials == [(None, "fraud", "no token", 9.0)]


def test_an_old_answer_is_not_used_for_ever(api: Served, remote: RemoteControl, tick: Tick) -> None:
    assert remote.authenticate(KNOWN_TOKEN) == KNOWN_CALLER
    api.stop()
    tick.now += remote.stale_auth_s + 1
    assert remote.authenticate(KNOWN_TOKEN) is None


def test_the_thread_refreshes_the_table(api: Served, token: str, fake: FakeGatewayControl) -> None:
    control = RemoteControl(api.url, token, refresh_s=0.02)
    control.start()
    try:
        assert control.table() == sample_table()
        fake.current = sample_table(built_at=5000.0)
        deadline = time.monotonic() + 10
        while control.table().built_at != 5000.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert control.table().built_at == 5000.0
    finally:
        control.close()
    assert control._thread is None
