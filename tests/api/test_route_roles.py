"""Every route in the OpenAPI document, with every role, against a table of expected answers.

A route without a row fails (a new route must say who may call it), and so does a row without
a route.

Roles: no token; viewer, member and owner of team "t"; a member of another team "u"; the
global operator and admin; and a workload's own token, scoped to a job of team "t".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import TokenScope
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.services.registry_types import DatasetRegistration, ModelRegistration
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.builders import local_fleet_document
from tests.gateway_control import KNOWN_TOKEN, FakeGatewayControl, with_gateway
from tests.identities import admin_caller, bearer, grant, grant_principal

ROLES = ("anonymous", "viewer", "member", "owner", "other", "operator", "admin", "workload")
PRINCIPALS = ROLES[1:]

WORKLOAD = {"name": "w", "team": "t", "kind": "batch", "run": "true"}
FLEET = local_fleet_document()


def expect(default: int, **overrides: int) -> dict[str, int]:
    """``default`` for every principal, these roles otherwise; no token is always 401."""
    unknown = set(overrides) - set(ROLES)
    assert not unknown, unknown
    return {"anonymous": 401, **dict.fromkeys(PRINCIPALS, default), **overrides}


@dataclass(frozen=True)
class Row:
    expected: dict[str, int]
    body: Any = None
    params: Mapping[str, str] = field(default_factory=dict)


# Reads open to every principal of team "t" (and to operators and admins); a workload's own
# token reads its job only.
JOB_READ = expect(200, other=404)
COST_READ = expect(200, workload=403)
ADMIN_ONLY = expect(403, admin=200)

# Reads of a team's registry: its viewers (and operators, admins); a workload's token reads
# its job only.
JOB_READ_ONLY = expect(200, other=404, workload=403)
OWNERS = expect(403, owner=200, admin=200, other=404)
BLOB = b"the bytes of f.bin"
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()
MANIFEST = {"files": [{"path": "f.bin", "sha256": BLOB_SHA, "size": len(BLOB)}]}
MODEL_BODY = {"team": "t", "manifest": MANIFEST}
DATASET_BODY = {"team": "t", "site": "local", "manifest": MANIFEST}
GATEWAY = expect(403, operator=200, admin=200)
GATEWAY_POSTS = expect(403, operator=204, admin=204)
POLICY = {"aliases": {"production": {"approvals": 2}}}
# The endpoint "holder" of team "t" (made by the member) serves the model "holder".
ENDPOINT = {"team": "t", "model": "holder@1", "sites": [{"site": "here"}]}

TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/health"): Row(expect(200, anonymous=200)),
    ("GET", "/api/v1/whoami"): Row(expect(200)),
    ("GET", "/api/v1/fleet"): Row(expect(200, workload=403)),
    ("PUT", "/api/v1/fleet"): Row(expect(403, operator=200, admin=200), {"spec": FLEET}),
    ("GET", "/api/v1/jobs"): Row(expect(200, workload=403)),
    ("POST", "/api/v1/jobs"): Row(
        expect(403, member=201, owner=201, admin=201), {"spec": WORKLOAD}
    ),
    # Allowed where a submission is (JOB_SUBMIT on the team); nothing is queued.
    ("POST", "/api/v1/placements:preview"): Row(
        expect(403, member=200, owner=200, admin=200), {"spec": WORKLOAD}
    ),
    ("GET", "/api/v1/jobs/{job_id}"): Row(JOB_READ),
    ("GET", "/api/v1/jobs/{job_id}/events"): Row(JOB_READ),
    ("GET", "/api/v1/jobs/{job_id}/explain"): Row(JOB_READ),
    ("GET", "/api/v1/jobs/{job_id}/logs"): Row(JOB_READ),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): Row(expect(200, viewer=403, other=404, workload=403)),
    # 409: allowed, but the job has no running attempt to credit.
    ("POST", "/api/v1/jobs/{job_id}/checkpoints"): Row(
        expect(409, viewer=403, other=404, operator=403), {"uri": "s3://b/step-1"}
    ),
    ("GET", "/api/v1/costs/report"): Row(COST_READ),
    ("GET", "/api/v1/costs/requests"): Row(COST_READ),
    ("GET", "/api/v1/costs/export"): Row(COST_READ),
    ("GET", "/api/v1/costs/budgets"): Row(COST_READ),
    ("GET", "/api/v1/costs/alerts"): Row(COST_READ),
    ("GET", "/api/v1/costs/anomalies"): Row(COST_READ),
    ("GET", "/api/v1/costs/forecast"): Row(COST_READ),
    # Identity and tokens (common.md's agreed surface).
    ("POST", "/api/v1/tokens"): Row(expect(201, workload=403), {"name": "mine"}),
    ("GET", "/api/v1/tokens"): Row(expect(200, workload=403)),
    # {token_id}: a token of another principal: not found to all but the admin.
    ("DELETE", "/api/v1/tokens/{token_id}"): Row(expect(404, admin=204, workload=403)),
    ("GET", "/api/v1/users"): Row(ADMIN_ONLY),
    ("POST", "/api/v1/users"): Row(expect(403, admin=201), {"name": "newcomer", "kind": "user"}),
    # {name}: another principal (self is allowed too: tests/api of id-edges).
    ("GET", "/api/v1/users/{name}"): Row(ADMIN_ONLY),
    ("PATCH", "/api/v1/users/{name}"): Row(ADMIN_ONLY, {"email": "holder@example.com"}),
    ("GET", "/api/v1/teams/{team}/members"): Row(expect(200, other=404, workload=403)),
    ("PUT", "/api/v1/teams/{team}/members/{name}"): Row(
        expect(403, owner=200, admin=200, other=404), {"role": "member"}
    ),
    ("DELETE", "/api/v1/teams/{team}/members/{name}"): Row(
        expect(403, owner=204, admin=204, other=404)
    ),
    ("GET", "/api/v1/audit"): Row(ADMIN_ONLY),
    ("GET", "/api/v1/audit/verify"): Row(ADMIN_ONLY),
    ("GET", "/api/v1/audit/export"): Row(ADMIN_ONLY),
    # The registry. {name} is "holder" here too: the model and the dataset of team "t" that
    # the member registered (version 1, one file "f.bin"); {sha256} that file's blob.
    ("POST", "/api/v1/blobs:missing"): Row(expect(200), {"digests": [BLOB_SHA]}),
    ("GET", "/api/v1/blobs/{sha256}/upload"): Row(expect(200)),
    ("PUT", "/api/v1/blobs/{sha256}"): Row(expect(200), params={"offset": "0"}),
    ("POST", "/api/v1/blobs/{sha256}:commit"): Row(expect(200)),
    ("GET", "/api/v1/models"): Row(expect(200)),
    ("POST", "/api/v1/models:promote"): Row(
        # Allowed to ask; the default policy wants an approval first (409 promotion_refused).
        expect(403, member=409, owner=409, admin=409, other=404),
        {"moves": [{"ref": "holder@1", "alias": "production"}]},
    ),
    ("POST", "/api/v1/models:import"): Row(
        # Allowed; the folder does not exist (404).
        expect(403, member=404, owner=404, admin=404),
        {"mlflow_uri": "/nonexistent/mlruns", "team": "t"},
    ),
    ("GET", "/api/v1/models/{name}"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/models/{name}/versions"): Row(JOB_READ_ONLY),
    # A workload's own token registers what its run made, in its team.
    ("POST", "/api/v1/models/{name}/versions"): Row(
        expect(403, member=201, owner=201, admin=201, workload=201, other=404), MODEL_BODY
    ),
    ("GET", "/api/v1/models/{name}/versions/{selector}"): Row(JOB_READ_ONLY),
    ("PATCH", "/api/v1/models/{name}/versions/{selector}"): Row(
        expect(403, member=200, owner=200, admin=200, other=404), {"tags": {"k": "v"}}
    ),
    ("GET", "/api/v1/models/{name}/versions/{selector}/manifest"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/models/{name}/versions/{selector}/files/{path}"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/models/{name}/versions/{selector}/verify"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/models/{name}/versions/{selector}/lineage"): Row(JOB_READ_ONLY),
    # Approvers (owners rank above them) who are not the version's author (the member).
    ("POST", "/api/v1/models/{name}/versions/{selector}/approvals"): Row(
        expect(403, owner=201, admin=201, other=404), {"alias": "production"}
    ),
    ("GET", "/api/v1/models/{name}/versions/{selector}/approvals"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/models/{name}/history"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/models/{name}/policy"): Row(JOB_READ_ONLY),
    ("PUT", "/api/v1/models/{name}/policy"): Row(OWNERS, {"spec": POLICY}),
    ("PUT", "/api/v1/models/{name}/sharing"): Row(OWNERS, {"teams": ["u"]}),
    ("GET", "/api/v1/teams/{team}/model-policy"): Row(JOB_READ_ONLY),
    ("PUT", "/api/v1/teams/{team}/model-policy"): Row(OWNERS, {"spec": POLICY}),
    ("GET", "/api/v1/datasets"): Row(expect(200)),
    ("GET", "/api/v1/datasets/{name}"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/datasets/{name}/versions"): Row(JOB_READ_ONLY),
    ("POST", "/api/v1/datasets/{name}/versions"): Row(
        expect(403, member=201, owner=201, admin=201, workload=201, other=404), DATASET_BODY
    ),
    ("GET", "/api/v1/datasets/{name}/versions/{selector}"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/datasets/{name}/versions/{selector}/manifest"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/datasets/{name}/versions/{selector}/files/{path}"): Row(JOB_READ_ONLY),
    ("POST", "/api/v1/datasets/{name}/versions/{selector}/replicas"): Row(
        expect(403, member=200, owner=200, admin=200, workload=200, other=404),
        {"site": "edge-1", "uri": "file:///data/holder"},
    ),
    ("GET", "/api/v1/datasets/{name}/versions/{selector}/used-by"): Row(JOB_READ_ONLY),
    ("GET", "/api/v1/datasets/{name}/versions/{selector}/lineage"): Row(JOB_READ_ONLY),
    # A gateway run alone (over a fake of its port): operators and admins only.
    ("GET", "/api/v1/gateway/table"): Row(GATEWAY),
    ("POST", "/api/v1/gateway/authenticate"): Row(GATEWAY, {"token": KNOWN_TOKEN}),
    ("POST", "/api/v1/gateway/denials"): Row(
        GATEWAY_POSTS, {"caller": None, "endpoint": "fraud", "reason": "no access", "at": 1.0}
    ),
    ("POST", "/api/v1/gateway/reports"): Row(GATEWAY_POSTS, {"loads": [], "counts": []}),
    ("POST", "/api/v1/gateway/guard-hits"): Row(GATEWAY_POSTS, {"hits": []}),
    # Endpoints: the team's viewers read, its members apply and delete (as for models).
    ("GET", "/api/v1/endpoints"): Row(expect(200, workload=403)),
    ("GET", "/api/v1/endpoints/{name}"): Row(JOB_READ_ONLY),
    ("PUT", "/api/v1/endpoints/{name}"): Row(
        expect(403, member=200, owner=200, admin=200, other=404), {"spec": {**ENDPOINT, "drain": 1}}
    ),
    ("DELETE", "/api/v1/endpoints/{name}"): Row(
        expect(403, member=204, owner=204, admin=204, other=404)
    ),
}

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class World:
    """One control plane with a principal per role, a job of team "t" and what paths name."""

    api: TestClient
    headers: dict[str, dict[str, str]]
    values: dict[str, str]

    def path(self, template: str) -> str:
        return re.sub(r"\{([^}]+)\}", lambda m: self.values[m.group(1)], template)


@pytest.fixture
def worlds(tmp_path: Path) -> Iterator[Any]:
    """Builds fresh worlds (a mutating route gets one per role, so that no role's call
    changes what the next one finds); all are closed at the end."""
    clients: list[TestClient] = []

    def build() -> World:
        home = tmp_path / f"plane-{len(clients)}"
        settings = Settings(home=home, database_url="memory://", catalog_dir=None)
        cp = ControlPlane(
            settings=settings,
            store=MemoryStore(),
            backends=PoolBackends(home / "work"),
            policy=PriorityBestFit(),
        )
        services = cp.services
        services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
        member, member_headers = grant_principal(services, "member-user", teams={"t": "member"})
        holder, _ = grant_principal(services, "holder", teams={"t": "viewer"})
        headers = {
            "anonymous": {},
            "viewer": grant(services, "viewer-user", teams={"t": "viewer"}),
            "member": member_headers,
            "owner": grant(services, "owner-user", teams={"t": "owner"}),
            "other": grant(services, "other-user", teams={"u": "member"}),
            "operator": grant(services, "operator-user", global_role="operator"),
            "admin": grant(services, "admin-user", global_role="admin"),
        }
        caller = services.access.authenticate(member_headers["Authorization"].split()[1])
        job = services.jobs.submit(caller, _workload())
        _, plaintext = services.identity.issue_token(
            None, member, "w", scope=TokenScope("t", job.job.id)
        )
        headers["workload"] = bearer(plaintext)
        holder_token, _ = services.identity.issue_token(None, holder, "holder-token")
        _registry(services, caller)
        api = TestClient(create_app(with_gateway(services, FakeGatewayControl())))
        api.__enter__()
        clients.append(api)
        values = {
            "job_id": job.job.id,
            "token_id": holder_token.id,
            "team": "t",
            "name": "holder",
            "selector": "1",
            "path": "f.bin",
            "sha256": BLOB_SHA,
        }
        return World(api, headers, values)

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _registry(services: Any, member: Any) -> None:
    """The member's model and dataset "holder" in team "t", version 1 of each: one file."""
    services.artifacts.append(member, BLOB_SHA, [BLOB], 0)
    services.artifacts.commit(member, BLOB_SHA)
    manifest = Manifest.of([ManifestEntry("f.bin", BLOB_SHA, len(BLOB))])
    services.models.register(member, ModelRegistration("holder", "t", manifest))
    services.datasets.register(member, DatasetRegistration("holder", "t", manifest, "local"))
    from aiplane.specs.endpoint import endpoint_from_document

    services.endpoints.apply(member, endpoint_from_document({"name": "holder", **ENDPOINT}, "e"))


def _workload() -> Any:
    from aiplane.specs import workload_from_document

    return workload_from_document(WORKLOAD, "w.yaml")


def openapi_routes(api: TestClient) -> set[tuple[str, str]]:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_route_has_a_row_and_every_row_a_route(worlds: Any) -> None:
    present = openapi_routes(worlds().api)
    assert present - TABLE.keys() == set(), "routes without a row in TABLE"
    assert TABLE.keys() - present == set(), "rows without a route"


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
def test_route_answers_each_role_as_the_table_says(worlds: Any, method: str, path: str) -> None:
    shared = worlds()
    assert (method, path) in openapi_routes(shared.api), "a row without a route"
    _check(worlds, shared, method, path, TABLE[(method, path)])


# Routes whose answer depends on a query parameter: each such variant has a row of its own.
VARIANTS: dict[tuple[str, str, str], Row] = {
    # The whole fleet document holds every team's budgets: operators and admins only.
    ("GET", "/api/v1/fleet", "document"): Row(
        expect(403, operator=200, admin=200), params={"document": "true"}
    ),
}


@pytest.mark.parametrize(("method", "path", "variant"), sorted(VARIANTS))
def test_query_variants_answer_each_role_as_the_table_says(
    worlds: Any, method: str, path: str, variant: str
) -> None:
    shared = worlds()
    assert (method, path) in TABLE
    _check(worlds, shared, method, path, VARIANTS[(method, path, variant)])


# Routes left out of the OpenAPI document on purpose, and why: they are walked here instead.
HIDDEN = {
    ("GET", "/metrics"),  # Prometheus scrapes without a token (decision 0006)
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("HEAD", "/api/v1/openapi.json"),
    ("HEAD", "/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("HEAD", "/docs/oauth2-redirect"),
}


def test_every_route_of_the_app_is_in_the_openapi_document_or_known_hidden(worlds: Any) -> None:
    """A route marked ``include_in_schema=False`` would escape the table above: each one must
    be named in HIDDEN."""
    world = worlds()
    served = served_routes(world.api.app.routes)
    assert ("GET", "/api/v1/jobs") in served  # the walk reaches into included routers
    assert served >= HIDDEN, "HIDDEN names a route that is not served"
    assert served - openapi_routes(world.api) - HIDDEN == set()


def served_routes(routes: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, included routers' too (FastAPI wraps
    each included router; its effective routes carry their full paths)."""
    out = set()
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for found in contexts() if contexts is not None else [route]:
            # A converter (``{path:path}``) is not part of the path the document names.
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", found.path)
            out |= {(method, path) for method in getattr(found, "methods", None) or ()}
    return out


def _check(worlds: Any, shared: World, method: str, path: str, row: Row) -> None:
    got = {}
    for role in ROLES:
        world = worlds() if method in MUTATING else shared
        response = world.api.request(
            method,
            world.path(path),
            headers=world.headers[role],
            json=row.body,
            params=dict(row.params),
        )
        got[role] = response.status_code
        if response.status_code >= 400:
            assert response.json()["error"]["code"], response.text
    assert got == row.expected
