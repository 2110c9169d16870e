"""The Open Inference Protocol routes through the gateway to a real upstream server."""

from __future__ import annotations

import httpx

from aiplane.core.serving.endpoints import Role
from tests.gateway.conftest import ALICE
from tests.gateway.fakes import replica, route, spec, table
from tests.gateway.servers import OipUpstream

BODY = {"id": "r1", "inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.5, 2.0]}]}


def test_infer_is_proxied_with_the_route_in_headers_and_no_credential_upstream(
    control, serve, gateway
):
    upstream = OipUpstream("edge-1")
    served = serve(upstream.app)
    control.set_table(table(route(spec(), [replica("run-1", served.address)])))
    gw = gateway()
    with httpx.Client(base_url=gw.url) as http:
        answer = http.post(
            "/v2/models/fraud/infer", json=BODY, headers={"authorization": f"Bearer {ALICE}"}
        )
        versioned = http.post(
            "/v2/models/fraud/versions/1/infer", json=BODY, headers={"x-api-key": ALICE}
        )
        metadata = http.get("/v2/models/fraud", headers={"x-api-key": ALICE})
        ready = http.get("/v2/models/fraud/ready", headers={"x-api-key": ALICE})
        live = http.get("/v2/health/live")
        gateway_ready = http.get("/v2/health/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [3.0, 4.0]
    assert answer.headers["x-aiplane-site"] == "edge"
    assert answer.headers["x-aiplane-replica"] == "run-1"
    assert "x-aiplane-warning" not in answer.headers
    assert versioned.status_code == 200
    assert metadata.json() == {"name": "fraud", "platform": "test", "by": "edge-1"}
    assert ready.status_code == 200
    assert live.json() == {"live": True}
    assert gateway_ready.json() == {"ready": True}
    # The caller's credential stays at the gateway; the request id goes on.
    sent = upstream.headers[0]
    assert "cookie" not in sent
    assert "authorization" not in sent and "x-api-key" not in upstream.headers[1]
    assert sent["x-aiplane-request-id"] == answer.headers["x-aiplane-request-id"]
    assert upstream.received[0] == BODY
    # A replica's cookie reaches its caller, and never the next request to a replica.
    assert answer.headers["set-cookie"] == "replica=edge-1; Path=/"
    assert "cookie" not in upstream.headers[1]


def test_unknown_endpoint_is_404_in_the_oip_error_shape(gateway):
    gw = gateway()
    answer = httpx.post(f"{gw.url}/v2/models/nope/infer", json=BODY, headers={"x-api-key": ALICE})
    assert answer.status_code == 404
    assert answer.json() == {"error": "no Open Inference Protocol endpoint named 'nope'"}


def test_inference_log_reports_and_metrics_after_requests(control, serve, gateway):
    upstream = OipUpstream("edge-1")
    served = serve(upstream.app)
    control.set_table(table(route(spec(), [replica("run-1", served.address, version="fraud@3")])))
    gw = gateway()
    with httpx.Client(base_url=gw.url, headers={"x-api-key": ALICE}) as http:
        for _ in range(5):
            assert http.post("/v2/models/fraud/infer", json=BODY).status_code == 200
        http.get("/v2/models/fraud")  # a metadata read: neither logged nor counted
    assert (
        gw.sample("aiplane_gateway_requests_total", endpoint="fraud", site="edge", code="200") == 6
    )
    assert gw.sample("aiplane_gateway_replicas", endpoint="fraud", site="edge", ready="true") == 1
    assert gw.sample("aiplane_gateway_in_flight", endpoint="fraud", site="edge") == 0
    assert (
        gw.sample("aiplane_gateway_request_duration_seconds_count", endpoint="fraud", site="edge")
        == 6
    )
    gw.stop()  # flushes the log and sends the last report

    assert len(gw.log.records) == 5
    record = gw.log.records[0]
    assert record.endpoint == "fraud" and record.version == "fraud@3" and record.site == "edge"
    assert record.role is Role.PRIMARY and record.status == 200 and record.principal == "alice"
    assert record.features == {"x": [1.5, 2.0]}
    assert record.prediction == {"y": [3.0, 4.0]}
    assert len({r.request_id for r in gw.log.records}) == 5

    assert sum(c.requests for c in control.counts) == 5
    assert {(c.endpoint, c.team, c.principal, c.token_id) for c in control.counts} == {
        ("fraud", "ml", "alice", "tok-alice")
    }
    assert all(c.hour % 3600 == 0 for c in control.counts)
    served_loads = [load for load in control.loads if load.run_id == "run-1"]
    assert sum(load.requests for load in served_loads) == 6
    assert any(load.p95_ms is not None for load in served_loads)
