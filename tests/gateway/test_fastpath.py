"""The infer route's way past Starlette: which requests take it, the path sent on, and the
gateway mounted below a prefix (as another app may mount it)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Mount

from aiplane.gateway import create_gateway
from aiplane.gateway.app import infer_target, route_path, upstream_path
from tests.gateway.conftest import ALICE
from tests.gateway.fakes import FakeControl, MemoryLimiter, MemoryLog, replica, route, spec, table
from tests.gateway.servers import OipUpstream, Served

BODY = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}


def test_only_the_infer_path_of_one_endpoint_is_a_target():
    assert infer_target("/v2/models/fraud/infer") == "fraud"
    assert infer_target("/v2/models/fraud/versions/3/infer") is None  # Starlette routes it
    assert infer_target("/v2/models//infer") is None
    assert infer_target("/v2/models/fraud") is None
    assert infer_target("/v1/chat/completions") is None


def test_the_path_below_the_mount_prefix_goes_on_quoted_with_its_query():
    scope = {"path": "/gw/v2/models/a?b/infer", "root_path": "/gw", "query_string": b"x=1"}
    assert route_path(scope) == "/v2/models/a?b/infer"
    assert upstream_path(scope) == "/v2/models/a%3Fb/infer?x=1"
    assert upstream_path({"path": "/v2/models/a/infer", "query_string": b""}) == (
        "/v2/models/a/infer"
    )


def test_a_gateway_mounted_below_a_prefix_serves_infer_and_the_rest(control: FakeControl, serve):
    upstream = OipUpstream("edge")
    served = serve(upstream.app)
    control.set_table(table(route(spec(), [replica("run-1", served.address)])))
    log = MemoryLog()
    gateway = create_gateway(
        control, MemoryLimiter(), log, registry=CollectorRegistry(), rng=random.Random(1)
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.stop()

    outer = Starlette(routes=[Mount("/gw", app=gateway.app)], lifespan=lifespan)
    headers = {"x-api-key": ALICE}
    with Served(outer, lifespan="on") as server, httpx.Client(base_url=server.url) as http:
        infer = http.post("/gw/v2/models/fraud/infer", json=BODY, headers=headers)
        versioned = http.post("/gw/v2/models/fraud/versions/1/infer", json=BODY, headers=headers)
        metadata = http.get("/gw/v2/models/fraud", headers=headers)
        unknown = http.post("/gw/v2/models/nope/infer", json=BODY, headers=headers)
    assert infer.status_code == 200, infer.text
    assert infer.json()["outputs"][0]["data"] == [2.0]
    assert versioned.status_code == 200
    assert metadata.json()["by"] == "edge"
    assert unknown.status_code == 404
    assert len(upstream.received) == 2  # both infers reached the replica at /v2/...
    assert [r.status for r in log.records] == [200, 200]
