"""Who may call: 401 without a known credential, 403 (audited) without access, 429 with
Retry-After past a key's rate or daily quota."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.types import ASGIApp

from aiplane.core.serving.endpoints import Access, KeyLimits
from tests.gateway.conftest import ALICE, BOB
from tests.gateway.fakes import FakeControl, replica, route, spec, table
from tests.gateway.servers import OipUpstream, Served

BODY = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}


def _endpoint(control: FakeControl, serve: Callable[[ASGIApp], Served], **fields: Any) -> None:
    served = serve(OipUpstream("edge-1").app)
    control.set_table(table(route(spec(**fields), [replica("run-1", served.address)])))


def test_no_credential_or_an_unknown_one_is_401_and_a_miss_is_cached(control, serve, gateway):
    _endpoint(control, serve)
    gw = gateway()
    with httpx.Client(base_url=gw.url) as http:
        none = http.post("/v2/models/fraud/infer", json=BODY)
        basic = http.post(
            "/v2/models/fraud/infer", json=BODY, headers={"authorization": "Basic abc"}
        )
        unknown = [
            http.post("/v2/models/fraud/infer", json=BODY, headers={"x-api-key": "wrong"})
            for _ in range(3)
        ]
    assert none.status_code == 401 and "Authorization: Bearer" in none.json()["error"]
    assert basic.status_code == 401
    assert [a.status_code for a in unknown] == [401, 401, 401]
    assert unknown[0].json() == {"error": "the token or API key is unknown, revoked or expired"}
    assert control.authentications.count("wrong") == 1  # the miss is kept auth_cache_s
    assert (
        gw.sample(
            "aiplane_gateway_errors_total", endpoint="fraud", site="", reason="unauthenticated"
        )
        == 5
    )


def test_a_caller_without_access_is_403_and_the_refusal_is_recorded(control, serve, gateway):
    _endpoint(control, serve)
    gw = gateway()
    answer = httpx.post(f"{gw.url}/v2/models/fraud/infer", json=BODY, headers={"x-api-key": BOB})
    assert answer.status_code == 403
    assert answer.json()["error"] == "bob may not invoke endpoint fraud (allowed: team ml)"
    assert len(control.denials) == 1
    who, endpoint, reason, _at = control.denials[0]
    assert (who, endpoint) == ("bob", "fraud") and "team ml" in reason


def test_a_team_named_in_access_may_invoke(control, serve, gateway):
    _endpoint(control, serve, access=Access(teams=("web",)))
    gw = gateway()
    answer = httpx.post(f"{gw.url}/v2/models/fraud/infer", json=BODY, headers={"x-api-key": BOB})
    assert answer.status_code == 200
    assert control.denials == []


def test_past_the_rate_limit_is_429_with_retry_after_in_whole_seconds(control, serve, gateway):
    _endpoint(control, serve, limits=KeyLimits(requests_per_s=0.5, burst=1))
    gw = gateway()
    with httpx.Client(base_url=gw.url) as http:
        first = http.post("/v2/models/fraud/infer", json=BODY, headers={"x-api-key": ALICE})
        second = http.post("/v2/models/fraud/infer", json=BODY, headers={"x-api-key": ALICE})
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "2"  # just under 2 s to the next token, rounded up
    assert "0.5 requests/s" in second.json()["error"]


def test_limits_are_per_key(control, serve, gateway):
    _endpoint(
        control,
        serve,
        limits=KeyLimits(requests_per_s=0.01, burst=1),
        access=Access(teams=("web",)),
    )
    gw = gateway()
    with httpx.Client(base_url=gw.url) as http:
        alice = http.post("/v2/models/fraud/infer", json=BODY, headers={"x-api-key": ALICE})
        bob = http.post("/v2/models/fraud/infer", json=BODY, headers={"x-api-key": BOB})
        alice_again = http.post("/v2/models/fraud/infer", json=BODY, headers={"x-api-key": ALICE})
    assert (alice.status_code, bob.status_code, alice_again.status_code) == (200, 200, 429)


def test_past_the_daily_request_quota_is_429_until_utc_midnight(control, serve, gateway):
    _endpoint(control, serve, limits=KeyLimits(requests_per_day=2))
    gw = gateway()
    with httpx.Client(base_url=gw.url, headers={"x-api-key": ALICE}) as http:
        answers = [http.post("/v2/models/fraud/infer", json=BODY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["retry-after"]) <= 86400
    assert "daily quota of 2 requests" in answers[2].json()["error"]
    assert gw.sample("aiplane_gateway_errors_total", endpoint="fraud", site="", reason="quota") == 1


class _Down(FakeControl):
    def authenticate(self, token: str) -> None:  # noqa: ARG002 (down: whatever it is asked)
        raise ConnectionError("control plane down")


def test_a_control_plane_that_cannot_authenticate_is_503_not_a_crash(control, serve, gateway):
    _endpoint(control, serve)
    down = _Down(control.table())
    gw = gateway(control=down)
    answer = httpx.post(f"{gw.url}/v2/models/fraud/infer", json=BODY, headers={"x-api-key": ALICE})
    assert answer.status_code == 503
    assert "could not check the credential" in answer.json()["error"]


def test_a_denial_that_cannot_be_recorded_is_still_403(control, serve, gateway):
    _endpoint(control, serve)

    def fail(*_args: object) -> None:
        raise ConnectionError("audit down")

    control.record_denial = fail
    gw = gateway()
    answer = httpx.post(f"{gw.url}/v2/models/fraud/infer", json=BODY, headers={"x-api-key": BOB})
    assert answer.status_code == 403
