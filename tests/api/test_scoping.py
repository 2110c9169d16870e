"""Scoped authorisation over the API: a member of one team works with that team's jobs and
costs only (another team's job is answered as one that does not exist); operators and admins
see all; every mutating call leaves exactly one audit entry, and so does every refusal."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.audit import AuditEntry
from aiplane.core.cost.alerts import CostAlert
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from aiplane.store.sql import SqlStore
from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.identities import admin_caller, grant
from tests.services.cost_fixtures import DAY, JUNE, fleet_document, usage

NOW = JUNE + 10 * DAY
# The fleet has GPU nodes only: CPU-only work there could never run, so it is refused.
ONE_GPU = {"resources": {"accelerators": "H100:1"}}
BUDGETS = [
    {"name": "research-cap", "team": "research", "amount_usd": 5000},
    {"name": "infra-cap", "team": "infra", "amount_usd": 5000},
    {"name": "llama", "project": "llama", "amount_usd": 5000},
]


def spec(team: str, name: str = "w") -> dict[str, Any]:
    return {"spec": {"name": name, "team": team, "kind": "batch", "run": "true", **ONE_GPU}}


@pytest.fixture(params=["memory", "sqlite"])
def cp(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[ControlPlane]:
    """The control plane over the memory store and over SQLite (the audit log's entries are
    counted in the store the mutations are written to)."""
    store: Store = MemoryStore()
    if request.param == "sqlite":
        store = SqlStore.open(f"sqlite:///{tmp_path / 'aiplane.db'}")
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    plane = ControlPlane(
        settings=settings,
        store=store,
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
        clock=clock,
    )
    yield plane
    store.close()


@pytest.fixture
def plane(cp: ControlPlane, clock: Clock) -> ControlPlane:
    clock.fixed = NOW
    cp.services.fleet.apply(admin_caller(), fleet_document(BUDGETS), "fleet.yaml")
    cp.store.usage.add(usage("r1", JUNE + DAY, 20))  # research, $320
    cp.store.usage.add(usage("r2", JUNE + 2 * DAY, 10, team="infra", usd_per_hour=8.0))  # $80
    return cp


@pytest.fixture
def who(plane: ControlPlane) -> dict[str, dict[str, str]]:
    services = plane.services
    return {
        "alice": grant(services, "alice", teams={"research": "member"}),
        "bob": grant(services, "bob", teams={"infra": "member"}),
        "operator": grant(services, "ops", global_role="operator"),
        "admin": grant(services, "root", global_role="admin"),
    }


def entries(cp: ControlPlane) -> list[AuditEntry]:
    return list(cp.services.audit.all_entries())


def submit(api: TestClient, headers: dict[str, str], team: str, name: str = "w") -> str:
    response = api.post("/api/v1/jobs", json=spec(team, name), headers=headers)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


# -- jobs ----------------------------------------------------------------------------------


def test_another_teams_job_is_answered_as_one_that_does_not_exist(
    api: TestClient, who: dict[str, dict[str, str]]
) -> None:
    theirs = submit(api, who["bob"], "infra")
    missing = "j-00000000-nope"
    for suffix in ("", "/events", "/explain", "/logs"):
        hidden = api.get(f"/api/v1/jobs/{theirs}{suffix}", headers=who["alice"])
        absent = api.get(f"/api/v1/jobs/{missing}{suffix}", headers=who["alice"])
        assert hidden.status_code == absent.status_code == 404, suffix
        assert hidden.json() == {
            "error": {**absent.json()["error"], "message": f"job {theirs} not found"}
        }
        assert absent.json()["error"]["message"] == f"job {missing} not found"
        assert theirs not in api.get("/api/v1/jobs", headers=who["alice"]).text
    cancel = api.post(f"/api/v1/jobs/{theirs}/cancel", headers=who["alice"])
    assert cancel.status_code == 404
    assert cancel.json()["error"]["message"] == f"job {theirs} not found"
    # Not cancelled: its own team still sees it pending.
    assert api.get(f"/api/v1/jobs/{theirs}", headers=who["bob"]).json()["state"] == "pending"


def test_listings_hold_the_callers_teams_only(
    api: TestClient, who: dict[str, dict[str, str]]
) -> None:
    mine = submit(api, who["alice"], "research")
    theirs = submit(api, who["bob"], "infra")

    def ids(headers: dict[str, str], **params: str) -> list[str]:
        response = api.get("/api/v1/jobs", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["items"]]

    assert ids(who["alice"]) == [mine]
    assert ids(who["bob"]) == [theirs]
    assert sorted(ids(who["operator"])) == sorted([theirs, mine])
    assert ids(who["alice"], team="research") == [mine]
    assert ids(who["operator"], team="infra") == [theirs]
    # Naming another team is answered as if it did not exist.
    named = api.get("/api/v1/jobs", headers=who["alice"], params={"team": "infra"})
    assert named.status_code == 404 and named.json()["error"]["code"] == "not_found"


def test_members_submit_to_their_own_team_only(
    api: TestClient, who: dict[str, dict[str, str]]
) -> None:
    refused = api.post("/api/v1/jobs", json=spec("infra"), headers=who["alice"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    submitted = api.post("/api/v1/jobs", json=spec("research"), headers=who["alice"])
    assert submitted.json()["submitted_by"] == "alice"


def test_operators_cancel_any_teams_job(api: TestClient, who: dict[str, dict[str, str]]) -> None:
    theirs = submit(api, who["bob"], "infra")
    cancelled = api.post(f"/api/v1/jobs/{theirs}/cancel", headers=who["operator"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"


# -- costs ---------------------------------------------------------------------------------


def costs(api: TestClient, headers: dict[str, str], path: str, **params: str) -> Any:
    response = api.get(f"/api/v1/costs/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json() if path != "export" else response.text


def test_cost_reports_count_the_callers_teams_only(
    api: TestClient, who: dict[str, dict[str, str]]
) -> None:
    everyone = costs(api, who["operator"], "report", by="team", share_idle="false")
    by_team = {r["key"]: r["usd"] for r in everyone["rows"]}
    assert set(by_team) == {"research", "infra"}
    alice = costs(api, who["alice"], "report", by="team", share_idle="false")
    assert [(r["key"], r["usd"]) for r in alice["rows"]] == [("research", by_team["research"])]
    # Grouped by something other than team: still only her team's usage.
    by_pool = costs(api, who["alice"], "report", by="pool")
    assert sum(r["usd"] for r in by_pool["rows"]) == pytest.approx(by_team["research"])
    assert by_pool["idle"] == []
    # From well before any usage (not from epoch 0: a period is at most 400 days, decision 0028).
    since = {"from": "2025-01-01"}
    rows = list(csv.DictReader(io.StringIO(costs(api, who["alice"], "export", **since))))
    assert rows and {r["x_team"] for r in rows} == {"research"}
    everything = csv.DictReader(io.StringIO(costs(api, who["operator"], "export")))
    assert "infra" in {r["x_team"] for r in everything}
    assert set(costs(api, who["alice"], "forecast")[0]) >= {"team"}
    assert {f["team"] for f in costs(api, who["alice"], "forecast")} == {"research"}
    assert {f["team"] for f in costs(api, who["operator"], "forecast")} == {"research", "infra"}
    for anomaly in costs(api, who["alice"], "anomalies", by="team"):
        assert anomaly["key"] == "research"


def test_budgets_and_alerts_are_scoped_by_their_team(
    api: TestClient, plane: ControlPlane, who: dict[str, dict[str, str]]
) -> None:
    def budget_names(headers: dict[str, str]) -> set[str]:
        return {b["name"] for b in costs(api, headers, "budgets")}

    assert budget_names(who["alice"]) == {"research-cap"}
    assert budget_names(who["bob"]) == {"infra-cap"}
    # A project may span teams: its budget is for those who read every team.
    assert budget_names(who["operator"]) >= {"research-cap", "infra-cap", "llama"}
    for n, (scope, target) in enumerate(
        [("team", "research"), ("team", "infra"), ("project", "llama")]
    ):
        payload = {"scope": scope, "target": target}
        plane.store.alerts.add(
            CostAlert(f"k{n}", f"{target}-cap", "alert@0.8", JUNE, NOW - 10 + n, "m", payload)
        )
    assert [a["budget"] for a in costs(api, who["alice"], "alerts")] == ["research-cap"]
    assert [a["budget"] for a in costs(api, who["bob"], "alerts")] == ["infra-cap"]
    assert len(costs(api, who["admin"], "alerts")) == 3


# -- the audit log -------------------------------------------------------------------------


def test_every_mutating_call_leaves_exactly_one_entry(
    api: TestClient, plane: ControlPlane, who: dict[str, dict[str, str]]
) -> None:
    def one_new(call: Any) -> AuditEntry:
        before = len(entries(plane))
        call()
        new = entries(plane)[before:]
        assert len(new) == 1, [e.record for e in new]
        return new[0]

    submitted: dict[str, Any] = {}

    def do_submit() -> None:
        submitted.update(
            api.post("/api/v1/jobs", json=spec("research"), headers=who["alice"]).json()
        )

    entry = one_new(do_submit)
    job_id = submitted["id"]
    assert (entry.record.actor, entry.record.action, entry.record.resource) == (
        "alice",
        "job.submit",
        f"job/{job_id}",
    )
    assert (entry.record.outcome, entry.record.team) == ("ok", "research")

    entry = one_new(lambda: api.post(f"/api/v1/jobs/{job_id}/cancel", headers=who["alice"]))
    assert (entry.record.action, entry.record.outcome) == ("job.cancel", "ok")

    fleet = {"spec": fleet_document(BUDGETS), "source": "again.yaml"}
    entry = one_new(lambda: api.put("/api/v1/fleet", json=fleet, headers=who["operator"]))
    assert (entry.record.actor, entry.record.action) == ("ops", "fleet.apply")
    assert entry.record.resource == "fleet/v2"

    # A failed mutating call: the route template, the error code.
    bad = {"spec": {"name": "w", "team": "research", "kind": "batch"}}  # no run
    entry = one_new(lambda: api.post("/api/v1/jobs", json=bad, headers=who["alice"]))
    assert (entry.record.actor, entry.record.action) == ("alice", "POST /api/v1/jobs")
    assert entry.record.outcome == "spec_invalid"
    entry = one_new(
        lambda: api.post(
            f"/api/v1/jobs/{job_id}/checkpoints", json={"uri": "x"}, headers=who["alice"]
        )
    )
    assert entry.record.action == "POST /api/v1/jobs/{job_id}/checkpoints"
    assert entry.record.outcome == "conflict"
    entry = one_new(lambda: api.post("/api/v1/jobs", json={"nope": 1}, headers=who["alice"]))
    assert entry.record.outcome == "request_invalid"
    # Reads leave none.
    before = len(entries(plane))
    api.get("/api/v1/jobs", headers=who["alice"])
    api.get(f"/api/v1/jobs/{job_id}", headers=who["alice"])
    assert len(entries(plane)) == before


def test_every_refusal_leaves_exactly_one_entry(
    api: TestClient, plane: ControlPlane, who: dict[str, dict[str, str]]
) -> None:
    theirs = submit(api, who["bob"], "infra")

    def one_new(call: Any, status: int) -> AuditEntry:
        before = len(entries(plane))
        assert call().status_code == status
        new = entries(plane)[before:]
        assert len(new) == 1, [e.record for e in new]
        return new[0]

    # Hidden: recorded once as denied (the API's error handler does not record it again).
    entry = one_new(lambda: api.post(f"/api/v1/jobs/{theirs}/cancel", headers=who["alice"]), 404)
    assert (entry.record.actor, entry.record.action, entry.record.outcome) == (
        "alice",
        "job.cancel",
        "denied",
    )
    assert (entry.record.resource, entry.record.team) == (f"job/{theirs}", "infra")
    entry = one_new(lambda: api.get(f"/api/v1/jobs/{theirs}/logs", headers=who["alice"]), 404)
    assert (entry.record.action, entry.record.outcome) == ("job.logs", "denied")
    entry = one_new(lambda: api.put("/api/v1/fleet", json={"spec": {}}, headers=who["alice"]), 403)
    assert (entry.record.action, entry.record.outcome) == ("fleet.apply", "denied")
    entry = one_new(
        lambda: api.post("/api/v1/jobs", json=spec("research"), headers={"Authorization": "x"}),
        401,
    )
    assert entry.record.actor == "anonymous" and entry.record.outcome == "unauthenticated"
    bad_token = {"Authorization": "Bearer aip_not-a-token"}
    entry = one_new(lambda: api.post("/api/v1/jobs", json=spec("research"), headers=bad_token), 401)
    assert (entry.record.action, entry.record.outcome) == ("auth.authenticate", "denied")


def test_the_audit_chain_verifies_after_scoped_calls(
    api: TestClient, plane: ControlPlane, who: dict[str, dict[str, str]]
) -> None:
    theirs = submit(api, who["bob"], "infra")
    api.post(f"/api/v1/jobs/{theirs}/cancel", headers=who["alice"])
    api.post(f"/api/v1/jobs/{theirs}/cancel", headers=who["bob"])
    assert plane.services.audit.verify().ok


def test_a_blocked_submission_names_only_the_budgets_that_bind_it(tmp_path: Path) -> None:
    """A 402 tells the submitter which budget blocks them, never another team's."""
    block = [{"kind": "block", "at": 1.0, "basis": "spent"}]
    budgets = [
        {"name": "research-hard", "team": "research", "amount_usd": 10, "rules": block},
        {"name": "infra-secret-hard", "team": "infra", "amount_usd": 10, "rules": block},
    ]
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    cp = ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "w"),
        policy=PriorityBestFit(),
        clock=Clock(JUNE + 10 * DAY),
    )
    cp.services.fleet.apply(admin_caller(), fleet_document(budgets), "fleet.yaml")
    cp.store.usage.add(usage("r1", JUNE + DAY, 20))
    cp.store.usage.add(usage("r2", JUNE + 2 * DAY, 10, team="infra", usd_per_hour=8.0))
    alice = grant(cp.services, "alice", teams={"research": "member"})
    spec = {"name": "w", "team": "research", "kind": "batch", "run": "true", **ONE_GPU}
    with TestClient(create_app(cp.services)) as api:
        response = api.post("/api/v1/jobs", headers=alice, json={"spec": spec})
    assert response.status_code == 402
    assert "research-hard" in response.text
    assert "infra-secret-hard" not in response.text


def test_a_mutating_call_that_breaks_unexpectedly_is_audited(
    plane: ControlPlane, who: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(plane.services.jobs, "submit", broken)
    with TestClient(create_app(plane.services), raise_server_exceptions=False) as api:
        response = api.post("/api/v1/jobs", headers=who["alice"], json=spec("research"))
    assert response.status_code == 500
    (entry,) = plane.store.audit.search(actor="alice")
    assert (entry.record.action, entry.record.outcome) == ("POST /api/v1/jobs", "internal")


def test_reads_never_show_credentials_a_spec_or_fleet_holds(
    plane: ControlPlane, api: TestClient, who: dict[str, dict[str, str]]
) -> None:
    body = spec("research")
    body["spec"]["env"] = {"HF_TOKEN": "hf_s3cret", "DB_PASSWORD": "pw1", "EPOCHS": "3"}
    job = api.post("/api/v1/jobs", headers=who["alice"], json=body).json()
    shown = api.get(f"/api/v1/jobs/{job['id']}", headers=who["alice"]).json()
    assert shown["workload"]["env"] == {
        "HF_TOKEN": "<redacted>",
        "DB_PASSWORD": "<redacted>",
        "EPOCHS": "3",
    }
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "inline-s3cret"}
    budgets = [{"name": "capped", "team": "research", "amount_usd": 10, "webhook": hook}]
    plane.services.fleet.apply(admin_caller(), fleet_document(budgets), "fleet.yaml")
    fleet = api.get("/api/v1/fleet", headers=who["operator"], params={"document": "true"})
    assert fleet.status_code == 200
    assert "inline-s3cret" not in fleet.text
    (budget,) = fleet.json()["document"]["budgets"]
    assert budget["webhook"]["secret"] == "<redacted>"
