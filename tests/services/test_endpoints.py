"""The endpoint service over the memory store and the fake backend: apply, update, delete,
access, and the reconciler (replicas submitted, scaled, drained, replaced, cancelled); the
gateway's table built from what runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.core.errors import NotFoundError, PermissionDeniedError, SpecError
from aiplane.core.runs import RunState
from aiplane.core.serving.caps import ReplicaCap
from aiplane.core.serving.endpoints import (
    LABEL_ENDPOINT,
    LABEL_GENERATION,
    LABEL_ROLE,
    LABEL_SITE,
    LABEL_VERSION,
    Role,
)
from aiplane.core.serving.routes import ReplicaLoad, RequestCount
from aiplane.core.workloads import WorkloadKind
from aiplane.services.endpoint_replicas import replica_workload
from aiplane.specs import workload_from_document
from tests.services.endpoint_plane import Plane


@pytest.fixture(params=["memory", "sqlite"])
def plane(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Plane]:
    made = Plane(tmp_path, request.param)
    yield made
    made.cp.store.close()


def audit_actions(plane: Plane) -> list[tuple[str, str]]:
    return [(e.record.action, e.record.outcome) for e in plane.store.audit.entries()]


def test_apply_creates_then_changes_only_when_the_spec_does(plane: Plane) -> None:
    first = plane.apply()
    assert first.endpoint.generation == 1
    assert first.endpoint.created_by == "alice"
    assert plane.apply().endpoint.generation == 1  # the same spec: nothing changes
    changed = plane.apply(drain=3)
    assert changed.endpoint.generation == 2
    assert changed.endpoint.spec.drain_s == 3
    assert audit_actions(plane).count(("endpoint.apply", "ok")) == 2


def test_reconcile_submits_the_minimum_of_each_site_pinned_and_labelled(plane: Plane) -> None:
    plane.apply()
    done = plane.step()
    assert done["submitted"] == 2
    assert plane.step()["submitted"] == 0  # idempotent: the replicas are there
    jobs = {job.workload.labels[LABEL_SITE]: job for job, _ in plane.live()}
    assert set(jobs) == {"edge", "cloud"}
    edge = jobs["edge"].workload
    assert edge.kind is WorkloadKind.SERVE
    assert edge.constraints.sites == ("edge",)
    assert edge.model == "fraud@1"  # the alias resolved
    # ``service`` travels once the workload codec carries it (helper A's); made here:
    made = replica_workload(
        plane.store.endpoints.get("fraud"), "edge", Role.PRIMARY, "fraud@1", "py"
    )
    assert made.service is not None and made.service.readiness_path == "/v2/health/ready"
    assert "-m aiplane.modelserver --name fraud --version 1 --port $AIPLANE_PORT" in edge.run
    labels = edge.labels
    assert labels[LABEL_ENDPOINT] == "fraud"
    assert labels[LABEL_ROLE] == "primary"
    assert labels[LABEL_VERSION] == "fraud@1"
    assert labels[LABEL_GENERATION] == "1"
    assert jobs["edge"].submitted_by == "alice"
    view = plane.endpoints.show(plane.vera, "fraud")
    by_site = {s.site: s for s in view.sites}
    assert by_site["edge"].ready == 1 and by_site["cloud"].running == 1
    assert by_site["edge"].replicas[0].address is not None


def test_surplus_is_drained_newest_first_then_cancelled_after_the_grace(plane: Plane) -> None:
    plane.apply(sites=[{"site": "edge", "min": 2, "max": 3}], drain=5)
    plane.step()
    plane.step()
    live = sorted(plane.live("edge"), key=lambda jr: jr[0].id)
    assert len(live) == 2
    newest = live[-1][0].id
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 1}], drain=5)
    plane.now += 1
    assert plane.step()["drained"] == 1
    drained = [c for c in plane.cluster.calls_named("drain")]
    assert len(drained) == 1
    assert plane.store.jobs.run_for_job(newest).state is RunState.RUNNING  # still finishing
    view = plane.endpoints.show(plane.alice, "fraud")
    draining = [r for s in view.sites for r in s.replicas if r.draining]
    assert [r.job_id for r in draining] == [newest]
    assert not draining[0].ready
    plane.now += 6
    assert plane.step()["cancelled"] == 1
    assert plane.store.jobs.run_for_job(newest).state is RunState.CANCELLED
    assert [j.id for j, _ in plane.live("edge")] == [live[0][0].id]


def test_an_alias_move_replaces_replicas_new_ones_first(plane: Plane) -> None:
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 1}], drain=0)
    plane.step()
    ((old, _),) = plane.live()
    plane.alias("production", 2)
    plane.now += 1
    done = plane.step(ready=False)  # the new replica starts, not yet ready
    assert done["submitted"] == 1
    versions = sorted(j.workload.labels[LABEL_VERSION] for j, _ in plane.live())
    assert versions == ["fraud@1", "fraud@2"]
    assert plane.step()["drained"] == 0  # the new one is not ready: the old one stays
    for replica in plane.cluster.replicas.values():
        plane.cluster.serve(replica.handle)
    plane.now += 1
    done = plane.step()
    assert done["drained"] == 1 and done["cancelled"] == 1  # drain: 0 s
    assert plane.store.jobs.run_for_job(old.id).state is RunState.CANCELLED
    assert [j.workload.labels[LABEL_VERSION] for j, _ in plane.live()] == ["fraud@2"]


def test_a_canary_gets_replicas_of_its_own_version(plane: Plane) -> None:
    plane.apply(
        sites=[{"site": "edge", "min": 1, "max": 2}],
        traffic={"canary": {"version": "fraud@2", "weight": 0.1}},
    )
    plane.step()
    roles = sorted(
        (j.workload.labels[LABEL_ROLE], j.workload.labels[LABEL_VERSION]) for j, _ in plane.live()
    )
    assert roles == [("canary", "fraud@2"), ("primary", "fraud@1")]


def test_a_canary_taken_away_is_drained_then_cancelled(plane: Plane) -> None:
    canary = {"canary": {"version": "fraud@2", "weight": 0.1}}
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 1}], traffic=canary, drain=5)
    plane.step()
    assert len(plane.live()) == 2
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 1}], drain=5)
    plane.now += 1
    assert plane.step()["drained"] == 1
    plane.now += 1
    assert plane.step()["cancelled"] == 0  # still in its grace
    plane.now += 5
    assert plane.step()["cancelled"] == 1
    assert [j.workload.labels[LABEL_ROLE] for j, _ in plane.live()] == ["primary"]


def test_delete_cancels_the_replicas(plane: Plane) -> None:
    plane.apply()
    plane.step()
    assert len(plane.live()) == 2
    plane.endpoints.delete(plane.alice, "fraud")
    assert plane.live() == []
    assert plane.step()["submitted"] == 0
    with pytest.raises(NotFoundError):
        plane.endpoints.show(plane.alice, "fraud")
    assert ("endpoint.delete", "ok") in audit_actions(plane)


def test_another_team_is_refused_and_sees_nothing(plane: Plane) -> None:
    plane.apply()
    with pytest.raises(NotFoundError):
        plane.endpoints.show(plane.bob, "fraud")
    with pytest.raises(NotFoundError):
        plane.apply(plane.bob)  # team t's endpoint: not disclosed to team u
    with pytest.raises(NotFoundError):
        plane.endpoints.delete(plane.bob, "fraud")
    assert plane.endpoints.listing(plane.bob) == []
    with pytest.raises(PermissionDeniedError):
        plane.apply(plane.vera, drain=1)  # a viewer reads, does not apply
    assert ("endpoint.apply", "denied") in audit_actions(plane)
    assert [v.endpoint.name for v in plane.endpoints.listing(plane.vera)] == ["fraud"]


def test_apply_names_what_does_not_fit_the_fleet(plane: Plane) -> None:
    with pytest.raises(SpecError) as caught:
        plane.apply(model="fraud@nope", sites=[{"site": "moon", "min": 1, "max": 1}])
    where = {p.location for p in caught.value.problems}
    assert where == {"model", "sites[0].site"}
    with pytest.raises(SpecError) as caught:
        plane.apply(resources={"cpus": 64})
    assert {p.location.split(":")[0] for p in caught.value.problems} == {"sites[0]", "sites[1]"}


def test_apply_refuses_a_model_of_another_team(plane: Plane) -> None:
    with pytest.raises(SpecError) as caught:
        plane.apply(plane.admin, team="u")
    assert [p.location for p in caught.value.problems] == ["model"]
    assert "not shared with u" in caught.value.problems[0].message


def test_placement_picks_the_cheapest_site_that_meets_the_slo(plane: Plane) -> None:
    plane.apply(sites=[], placement={"sites": 1, "min": 1, "max": 1})
    plane.step()
    assert [j.workload.labels[LABEL_SITE] for j, _ in plane.live()] == ["edge"]  # 5 ms <= 20
    plane.apply(sites=[], placement={"sites": 1}, latency_slo_ms={"eu-users": 50})
    plane.now += 1
    plane.step()
    sites = sorted(j.workload.labels[LABEL_SITE] for j, _ in plane.live())
    assert sites[:1] == ["cloud"]  # cheaper, and 30 ms meets 50 ms
    with pytest.raises(SpecError):
        plane.apply(sites=[], placement={"sites": 1}, latency_slo_ms={"eu-users": 1})


def test_a_budget_cap_bounds_the_replicas(plane: Plane) -> None:
    cap = ReplicaCap("budget b: cap", max_replicas_per_site=1)
    plane.endpoints._reconciler._caps = lambda _e: cap
    plane.apply(sites=[{"site": "edge", "min": 3, "max": 3}])
    plane.step()
    assert len(plane.live("edge")) == 1
    view = plane.endpoints.show(plane.alice, "fraud")
    assert view.sites[0].wanted == 1 and view.sites[0].reason == "budget b: cap"


def test_loads_the_gateway_reports_scale_a_site_up(plane: Plane) -> None:
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 3}])
    plane.step()
    ((_, run),) = plane.live("edge")
    load = ReplicaLoad("fraud", run.id, plane.now, 10.0, in_flight=12.0, requests=500, errors=0)
    plane.services.gateway.report([load], [])
    plane.now += 1
    assert plane.step()["submitted"] == 2
    assert len(plane.live("edge")) == 3


def test_the_table_has_the_ready_replicas_and_their_sites(plane: Plane) -> None:
    plane.apply()
    plane.step(ready=False)
    table = plane.services.gateway.table()
    route = table.endpoint("fraud")
    assert route is not None and route.generation == 1
    assert {r.site for r in route.replicas} == {"edge", "cloud"}
    assert not any(r.ready for r in route.replicas)
    assert route.sites["edge"].kind == "edge"
    assert route.sites["edge"].latency_ms["eu-users"] == 5
    for replica in plane.cluster.replicas.values():
        plane.cluster.serve(replica.handle)
    plane.now += 2
    plane.services.gateway._cached = None  # type: ignore[attr-defined]  # the 1 s cache
    route = plane.services.gateway.table().endpoint("fraud")
    assert route is not None
    assert all(r.ready and r.role is Role.PRIMARY for r in route.replicas)
    assert all(r.usd_per_hour > 0 for r in route.replicas)


def test_a_job_of_another_team_labelled_as_a_replica_is_not_one(plane: Plane) -> None:
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 1}])
    plane.step()
    labels = {LABEL_ENDPOINT: "fraud", LABEL_SITE: "edge", LABEL_ROLE: "primary"}
    doc = {"name": "x", "team": "u", "kind": "serve", "run": "serve", "labels": labels}
    forged = plane.services.jobs.submit(plane.bob, workload_from_document(doc, "w.yaml"))
    plane.now += 1
    plane.step()
    plane.now += 20
    plane.step()
    assert plane.store.jobs.run_for_job(forged.job.id).state is RunState.RUNNING  # untouched
    plane.services.gateway._cached = None  # type: ignore[attr-defined]
    route = plane.services.gateway.table().endpoint("fraud")
    assert route is not None and forged.run.id not in {r.run_id for r in route.replicas}
    view = plane.endpoints.show(plane.alice, "fraud")
    assert forged.job.id not in {r.job_id for s in view.sites for r in s.replicas}


def test_report_adds_counts_and_denials_are_audited(plane: Plane) -> None:
    plane.apply()
    count = RequestCount("fraud", "t", "bob", None, 3600.0 * 500_000, requests=3)
    plane.services.gateway.report([], [count, count])
    stored = plane.store.endpoints.counts(since=0, until=1e12)
    assert [c.requests for c in stored] == [6]
    plane.services.gateway.record_denial(plane.bob, "fraud", "not allowed", plane.now)
    assert ("endpoint.invoke", "denied") in audit_actions(plane)
    assert plane.services.gateway.authenticate("aip_not-a-token") is None


def test_a_replica_that_fails_is_replaced_with_back_off(plane: Plane) -> None:
    plane.apply(sites=[{"site": "edge", "min": 1, "max": 1}])
    plane.step(ready=False)
    ((job, _),) = plane.live()
    replica = next(r for r in plane.cluster.replicas.values() if r.spec.run_id.endswith(job.id[2:]))
    plane.cluster.lose(replica.handle)  # (a service that exits is restarted in place)
    plane.cp.executor.reconcile(plane.now)
    assert plane.store.jobs.run_for_job(job.id).state is RunState.FAILED
    plane.now += 1
    assert plane.step()["submitted"] == 0  # the first retry waits 5 s
    view = plane.endpoints.show(plane.alice, "fraud")
    edge = next(s for s in view.sites if s.site == "edge")
    assert "ended on their own" in edge.reason
    plane.now += 5
    assert plane.step()["submitted"] == 1
    assert len(plane.live("edge")) == 1
