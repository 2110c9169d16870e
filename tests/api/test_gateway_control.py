"""The control API of a gateway run alone, over a fake of its port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.core.auth import PrincipalKind
from aiplane.core.serving.routes import ReplicaLoad, RequestCount
from aiplane.wire.serving import ReplicaLoadIn, RequestCountIn, caller_to_wire, table_from_wire
from aiplane.wiring import ControlPlane
from tests.gateway_control import (
    KNOWN_CALLER,
    KNOWN_TOKEN,
    FakeGatewayControl,
    sample_table,
    with_gateway,
)
from tests.identities import grant

BASE = "/api/v1/gateway"


@pytest.fixture
def control() -> FakeGatewayControl:
    return FakeGatewayControl()


@pytest.fixture
def gw_api(cp: ControlPlane, control: FakeGatewayControl) -> Iterator[TestClient]:
    with TestClient(create_app(with_gateway(cp.services, control))) as client:
        yield client


@pytest.fixture
def gw(cp: ControlPlane) -> dict[str, str]:
    """A service account with the global role operator: what a gateway runs as."""
    return grant(cp.services, "gateway-1", global_role="operator", kind=PrincipalKind.SERVICE)


def test_the_table_is_the_ports(gw_api: TestClient, gw: dict[str, str]) -> None:
    answer = gw_api.get(f"{BASE}/table", headers=gw)
    assert answer.status_code == 200, answer.text
    assert table_from_wire(answer.content) == sample_table()


def test_a_known_token_is_its_caller_and_an_unknown_one_401(
    gw_api: TestClient, gw: dict[str, str], control: FakeGatewayControl
) -> None:
    known = gw_api.post(f"{BASE}/authenticate", headers=gw, json={"token": KNOWN_TOKEN})
    assert known.status_code == 200, known.text
    assert known.json() == {"caller": caller_to_wire(KNOWN_CALLER)}
    unknown = gw_api.post(f"{BASE}/authenticate", headers=gw, json={"token": "aip_nobody"})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "unauthenticated"
    assert control.asked == [KNOWN_TOKEN, "aip_nobody"]


def test_denials_and_reports_reach_the_port(
    gw_api: TestClient, gw: dict[str, str], control: FakeGatewayControl
) -> None:
    body = {"caller": caller_to_wire(KNOWN_CALLER), "endpoint": "fraud", "reason": "r", "at": 5.0}
    assert gw_api.post(f"{BASE}/denials", headers=gw, json=body).status_code == 204
    assert control.denials == [(KNOWN_CALLER, "fraud", "r", 5.0)]
    load = ReplicaLoad("fraud", "r-1", 10.0, 5.0, 0.5, 12, 1, 20.0)
    count = RequestCount("fraud", "risk", "alice", "tok-alice", 0.0, 12, 1)
    report = {
        "loads": [ReplicaLoadIn.of(load).model_dump()],
        "counts": [RequestCountIn.of(count).model_dump()],
    }
    assert gw_api.post(f"{BASE}/reports", headers=gw, json=report).status_code == 204
    assert (control.loads, control.counts) == ([load], [count])


def test_a_report_out_of_bounds_is_refused_with_the_field(
    gw_api: TestClient, gw: dict[str, str], control: FakeGatewayControl
) -> None:
    bad = {
        "loads": [
            {
                "endpoint": "e",
                "run_id": "r",
                "at": 1.0,
                "window_s": 5.0,
                "in_flight": 0.0,
                "requests": -3,
                "errors": 0,
            }
        ]
    }
    answer = gw_api.post(f"{BASE}/reports", headers=gw, json=bad)
    assert answer.status_code == 422
    locations = [p["location"] for p in answer.json()["error"]["problems"]]
    assert "body.loads.0.requests" in locations
    assert control.loads == []


def test_a_team_member_is_refused_and_the_refusal_audited(
    cp: ControlPlane, gw_api: TestClient, control: FakeGatewayControl
) -> None:
    owner = grant(cp.services, "owner-1", teams={"risk": "owner"})
    answer = gw_api.post(f"{BASE}/authenticate", headers=owner, json={"token": KNOWN_TOKEN})
    assert answer.status_code == 403
    assert "operator" in answer.json()["error"]["message"]
    assert control.asked == []  # refused before the port is asked
    refused = [e.record for e in cp.audit.search() if e.record.action == "gateway.control"]
    assert [(r.actor, r.outcome) for r in refused] == [("owner-1", "denied")]
