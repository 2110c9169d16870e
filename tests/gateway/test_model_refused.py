"""The model access guard at the gateway: no request goes to a replica whose model version the
control plane refuses; when every replica of the endpoint (or of the version asked for) is
refused, a 403 with the reason (error metric reason ``model_refused``) and no upstream call.
The last test takes its table from a real control plane (SQLite, real signing)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from starlette.types import ASGIApp

from aiplane.core.auth import TeamRole
from aiplane.core.serving.endpoints import Role, Traffic
from aiplane.core.serving.routes import RoutingTable
from aiplane.gateway import GatewaySettings
from aiplane.store.sql import SqlStore
from aiplane.store.sql.registry_tables import ModelVersionRow
from aiplane.store.sql.tables import table_of
from tests.gateway.conftest import ALICE, Running
from tests.gateway.fakes import FakeControl, caller, replica, route, spec, table
from tests.gateway.servers import OipUpstream, Served
from tests.services.endpoint_plane import Plane

BODY = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
HEADERS = {"x-api-key": ALICE}
WHY = "fraud@2: its signature does not verify (signature: the signature does not verify)"


def refused_errors(gw: Running) -> float:
    return gw.sample(
        "aiplane_gateway_errors_total", endpoint="fraud", site="", reason="model_refused"
    )


def test_a_refused_replica_gets_no_request(
    control: FakeControl, serve: Callable[[ASGIApp], Served], gateway: Callable[..., Running]
) -> None:
    good, bad = OipUpstream("good"), OipUpstream("bad")
    replicas = [
        replica("run-good", serve(good.app).address, version="fraud@1"),
        dataclasses.replace(
            replica("run-bad", serve(bad.app).address, version="fraud@2"), refused=WHY
        ),
    ]
    control.set_table(table(route(spec(), replicas)))
    gw = gateway()
    with httpx.Client(base_url=gw.url, headers=HEADERS) as http:
        answers = [http.post("/v2/models/fraud/infer", json=BODY) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert len(good.received) == 20 and bad.received == []
    assert refused_errors(gw) == 0


def test_every_replica_refused_is_403_with_the_reason_and_no_upstream_call(
    control: FakeControl, serve: Callable[[ASGIApp], Served], gateway: Callable[..., Running]
) -> None:
    upstream = OipUpstream("edge")
    refused = replica("run-1", serve(upstream.app).address, version="fraud@2")
    control.set_table(table(route(spec(), [dataclasses.replace(refused, refused=WHY)])))
    gw = gateway()
    with httpx.Client(base_url=gw.url, headers=HEADERS) as http:
        infer = http.post("/v2/models/fraud/infer", json=BODY)
        metadata = http.get("/v2/models/fraud")
    assert infer.status_code == 403 and infer.json() == {"error": WHY}
    assert metadata.status_code == 403
    assert upstream.received == []
    assert refused_errors(gw) == 2
    # Recorded by the control plane when its verdict changed, not per request here.
    assert control.denials == []


def test_a_refused_version_asked_by_number_is_403_the_other_is_served(
    control: FakeControl, serve: Callable[[ASGIApp], Served], gateway: Callable[..., Running]
) -> None:
    primary, canary = OipUpstream("primary"), OipUpstream("canary")
    replicas = [
        replica("run-1", serve(primary.app).address, version="fraud@1"),
        dataclasses.replace(
            replica("run-2", serve(canary.app).address, role=Role.CANARY, version="fraud@2"),
            refused=WHY,
        ),
    ]
    traffic = Traffic(canary="fraud@2", canary_weight=0.5)
    control.set_table(table(route(spec(traffic=traffic), replicas)))
    gw = gateway()
    with httpx.Client(base_url=gw.url, headers=HEADERS) as http:
        asked = http.post("/v2/models/fraud/versions/2/infer", json=BODY)
        other = http.post("/v2/models/fraud/versions/1/infer", json=BODY)
        split = [http.post("/v2/models/fraud/infer", json=BODY) for _ in range(10)]
    assert asked.status_code == 403 and asked.json()["error"] == WHY
    assert other.status_code == 200
    # The canary's share falls back to the primary, as when no canary replica is ready.
    assert [a.status_code for a in split] == [200] * 10
    assert canary.received == [] and len(primary.received) == 11


# -- with a real control plane's table --------------------------------------------------------

VERSIONS = table_of(ModelVersionRow)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    made = Plane(tmp_path, "sqlite")
    yield made
    made.cp.store.close()


def _table(plane: Plane, address: str) -> RoutingTable:
    """The control plane's table, its replicas at ``address`` (the fake backend's addresses
    serve nothing)."""
    plane.services.gateway._cached = None  # type: ignore[attr-defined]  # the 1 s cache
    built = plane.services.gateway.table()
    endpoints = {
        name: dataclasses.replace(
            r, replicas=tuple(dataclasses.replace(x, address=address) for x in r.replicas)
        )
        for name, r in built.endpoints.items()
    }
    return dataclasses.replace(built, endpoints=endpoints)


def test_a_tampered_signature_in_the_registry_is_403_until_it_is_restored(
    plane: Plane,
    control: FakeControl,
    serve: Callable[[ASGIApp], Served],
    gateway: Callable[..., Running],
) -> None:
    plane.apply(model="fraud@2", sites=[{"site": "edge", "min": 1, "max": 1}])
    plane.step()
    store = plane.store
    assert isinstance(store, SqlStore)
    with store.engine.begin() as connection:
        signature = select(VERSIONS.c.signature).where(VERSIONS.c.model == "fraud")
        one = connection.execute(signature.where(VERSIONS.c.version == 1)).scalar_one()
        two = connection.execute(signature.where(VERSIONS.c.version == 2)).scalar_one()
        fraud2 = (VERSIONS.c.model == "fraud") & (VERSIONS.c.version == 2)
        connection.execute(update(VERSIONS).where(fraud2).values(signature=one))
    upstream = OipUpstream("edge")
    address = serve(upstream.app).address
    control.tokens[ALICE] = caller("alice", {"t": TeamRole.MEMBER})  # the plane's team
    control.set_table(_table(plane, address))
    gw = gateway(GatewaySettings(table_refresh_s=0.05))
    with httpx.Client(base_url=gw.url, headers=HEADERS) as http:
        refused = http.post("/v2/models/fraud/infer", json=BODY)
        assert refused.status_code == 403
        assert "fraud@2: its signature does not verify" in refused.json()["error"]
        assert upstream.received == []
        with store.engine.begin() as connection:
            connection.execute(update(VERSIONS).where(fraud2).values(signature=two))
        control.set_table(_table(plane, address))
        deadline = time.monotonic() + 10
        while (answer := http.post("/v2/models/fraud/infer", json=BODY)).status_code == 403:
            assert time.monotonic() < deadline, answer.json()
            time.sleep(0.05)
    assert answer.status_code == 200 and len(upstream.received) == 1
    outcomes = [
        e.record.outcome
        for e in plane.services.audit.search(resource="endpoint/fraud", limit=100)
        if e.record.action == "endpoint.model_access"
    ]
    assert outcomes == ["refused", "ok"]
