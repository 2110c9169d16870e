"""Serving end to end over a real `aiplane up` process, every call over HTTP.

A tiny scikit-learn model is registered by an author of team a, approved by an approver of
team a and promoted to production; the endpoint ``fraud`` serves fraud@production at the local
site. Through the gateway on the control plane's own port, team a's token gets the estimator's
predictions (and the site that answered); team b's is refused, and the refusal is in the audit
log with the endpoint and the caller. The gateway's request counter names the endpoint in
``/metrics``; deleting the endpoint ends its replica's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from aiplane.client import Client
from aiplane.wire.endpoints import EndpointOut
from tests.builders import local_fleet_document
from tests.e2e.server_process import ServerProcess, wait_until
from tests.modelserver.models import rows, trained, write_sklearn

pytestmark = pytest.mark.slow

SITE = "here"  # local_fleet_document's one site
FLEET = local_fleet_document(teams=[{"name": "a"}, {"name": "b"}])
ENDPOINT = {
    "kind": "Endpoint",
    "name": "fraud",
    "team": "a",
    "model": "fraud@production",
    "sites": [{"site": SITE, "min": 1, "max": 1}],
    "drain": 0,
}
ENDED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("serving") / "home"
    home.mkdir()
    proc = ServerProcess(home)
    try:
        yield proc.start()
    finally:
        proc.stop()


def _user(admin: Client, name: str, team: str, role: str) -> tuple[Client, str]:
    """A new user with ``role`` in ``team``: a client with a token of its own, and the token."""
    admin.users.create(name)
    admin.teams.add_member(team, name, role)
    token = admin.tokens.create(f"{name}-cli", principal=name).token
    assert token
    return Client(admin.url, token, timeout=60), token


def _ready(client: Client) -> EndpointOut | None:
    shown = client.endpoints.show("fraud")
    replicas = [r for s in shown.sites for r in s.replicas]
    return shown if any(r.ready for r in replicas) else None


def _infer(url: str, token: str, x: np.ndarray[Any, Any]) -> httpx.Response:
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(x.shape),
                "datatype": "FP64",
                "data": x.ravel().tolist(),
            }
        ]
    }
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/v2/models/fraud/infer", json=body, headers=headers, timeout=30)


def test_a_promoted_model_is_served_through_the_gateway_to_its_team_only(
    server: ServerProcess, tmp_path: Path
) -> None:
    estimator = trained()
    folder = write_sklearn(tmp_path / "model", estimator)
    with Client(server.url, server.token, timeout=60) as admin:
        admin.fleet.apply(FLEET, "fleet.yaml")
        author, author_token = _user(admin, "alice", "a", "member")
        approver, _ = _user(admin, "bob", "a", "approver")
        outsider, outsider_token = _user(admin, "carol", "b", "member")
        with author, approver, outsider:
            version = author.models.register("fraud", folder, team="a", flavor="sklearn")
            ref = f"fraud@{version.version}"
            approver.models.approve(ref, "production")
            approver.models.promote([(ref, "production")])
            assert author.models.get("fraud@production").version == version.version

            author.endpoints.apply(ENDPOINT, "fraud.yaml")
            shown = wait_until(lambda: _ready(author), 90, "a ready replica of fraud")
            (replica,) = [r for s in shown.sites for r in s.replicas]
            assert replica.version == ref

            # Through the gateway (the control plane's URL), as team a: the estimator's answers.
            # The gateway's routing table is cached for a second: it may lag ``show`` by that.
            x = rows(5, seed=7)
            answer = wait_until(
                lambda: (a := _infer(server.url, author_token, x)).status_code != 503 and a,
                10,
                "the gateway to route to the ready replica",
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"][0]["data"] == estimator.predict(x).tolist()
            assert answer.headers["x-aiplane-site"] == SITE

            # As team b: refused, and the refusal is audited with the endpoint and the caller.
            refused = _infer(server.url, outsider_token, x)
            assert refused.status_code == 403, refused.text
            denials = [
                e
                for e in admin.audit.log(resource="endpoint/fraud", limit=1000)
                if e.action == "endpoint.invoke"
            ]
            assert [(e.actor, e.outcome) for e in denials] == [("carol", "denied")], denials

            metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
            counted = {
                line
                for line in metrics.splitlines()
                if line.startswith("aiplane_gateway_requests_total{") and 'endpoint="fraud"' in line
            }
            # One served at the site, one refused (before routing: no site); 503s while the
            # table lagged may be there too.
            assert {
                'aiplane_gateway_requests_total{code="200",endpoint="fraud",site="here"} 1.0',
                'aiplane_gateway_requests_total{code="403",endpoint="fraud",site=""} 1.0',
            } <= counted, counted

            # Deleting the endpoint ends its replica's job.
            author.endpoints.delete("fraud")
            wait_until(
                lambda: admin.jobs.show(replica.job_id).state in ENDED,
                30,
                "the replica's job to end",
            )
            assert admin.jobs.show(replica.job_id).state == "cancelled"
