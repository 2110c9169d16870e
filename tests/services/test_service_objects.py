"""The service objects the edges call, over the memory store and the fake backend: each method
a whole use case (its writes in one unit of work, then what must be woken or stopped)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiplane.backends.base import Backend, BackendConfig, Handle
from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.core.auth import Action, PrincipalKind, Resource, TeamRole
from aiplane.core.errors import BackendError, PermissionDeniedError, SpecError, StoreError
from aiplane.core.runs import RunState
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.exporters.memory import MemoryExporter
from aiplane.services.access import Access, TokenAuthenticator
from aiplane.services.audit import AuditLog
from aiplane.services.budgets import BudgetCache
from aiplane.services.cost_service import CostService
from aiplane.services.execution import Executor
from aiplane.services.fleet import FleetCache, FleetService
from aiplane.services.identity import IdentityService
from aiplane.services.jobs import JobService
from aiplane.services.scheduling import run_cycle
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.services.types import ExportFormat
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.specs import workload_from_document
from aiplane.store.base import UnitOfWork
from aiplane.store.memory import MemoryStore
from tests.identities import ME, access_for
from tests.services.cost_fixtures import DAY, JUNE
from tests.services.fleets import DOCUMENTS

NOW = JUNE + 3 * DAY


def fleet_document(gpus: int = 8) -> dict[str, Any]:
    node = {"accelerator": "H100", "gpus": gpus, "cpus": 16, "memory_gib": 128}
    pool = {
        "name": "gpus",
        "backend": "fake",
        "nodes": 2,
        "node": node,
        "pricing": {"model": "owned", "usd_per_gpu_hour": 2.0},
    }
    site = {"name": "here", "kind": "onprem", "region": "eu", "jurisdiction": "EU"}
    return {"sites": [{**site, "pools": [pool]}], "teams": [{"name": "qa"}]}


class CountingStore(MemoryStore):
    """A memory store that counts the units of work it opens."""

    def __init__(self) -> None:
        super().__init__()
        self.units = 0

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        self.units += 1
        with super().unit_of_work() as uow:
            yield uow


@dataclass
class Wakes:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


class Plane:
    """The service objects as ``wiring.py`` builds them, over a fake cluster."""

    def __init__(self, tmp: Path) -> None:
        self.store = CountingStore()
        self.cluster = FakeCluster()
        self.stopped: list[RunState] = []  # the stored run's state when each replica stopped
        self.refuse_stops = 0  # how many of the next stops the backend refuses
        self.now = NOW
        self.wakes = Wakes()
        # A long TTL: only an invalidation makes an applied fleet visible at once.
        self.cache = FleetCache(self.store, DOCUMENTS, ttl_s=3600.0)
        self.backends = PoolBackends(tmp, self.cache.current, {"fake": self._factory})
        access, audit = access_for(self.store, self.clock)
        self.jobs = JobService(
            self.store,
            self.cache,
            BudgetCache(),
            self.backends,
            self.clock,
            self.wakes,
            cancel_grace_s=0.5,
            access=access,
            audit=audit,
        )
        self.fleet = FleetService(
            self.store,
            self.cache,
            DOCUMENTS,
            self.backends,
            self.clock,
            self.wakes,
            access=access,
            audit=audit,
        )
        self.exporter = MemoryExporter()
        recorder = TelemetryRecorder(None, self.store, self.backends)
        self.costs = CostService(
            self.store,
            self.cache,
            BudgetCache(),
            recorder,
            self.exporter,
            self.clock,
            access=access,
        )
        self.executor = Executor(self.store, self.backends, tmp / "ckpt", self.cache.current, 0.5)

    def clock(self) -> float:
        return self.now

    def _factory(self, _work_root: Path, config: BackendConfig) -> Backend:
        plane = self

        class Observed(FakeBackend):
            def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
                # Read through the store, not a unit: inside one this raises StoreError.
                run = plane.store.jobs.get_run(str(handle["run_id"]))
                plane.stopped.append(run.state)
                if plane.refuse_stops > 0:
                    plane.refuse_stops -= 1
                    raise BackendError("the node does not answer")
                super().cancel(handle, grace_s)

        return Observed(self.cluster, config)

    def submit(self, gpus: int = 1, replicas: int = 1) -> str:
        document = {
            "name": "w",
            "team": "qa",
            "kind": "batch",
            "run": "true",
            "replicas": replicas,
            "resources": {"accelerators": f"H100:{gpus}"},
        }
        return self.jobs.submit(ME, workload_from_document(document, "w.yaml")).job.id

    def place_and_start(self) -> None:
        fleet = self.cache.required()
        run_cycle(self.store, fleet, PriorityBestFit(), self.now, backends=self.backends)
        self.executor.launch_admitted(self.now)
        for replica in list(self.cluster.replicas.values()):
            self.cluster.start(replica.handle)
        self.executor.reconcile(self.now)


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    p = Plane(tmp_path)
    p.fleet.apply(ME, fleet_document(), "fleet.yaml")
    p.wakes.count = 0
    return p


def test_a_submission_is_one_unit_of_work_and_wakes_the_scheduler_once(plane: Plane) -> None:
    before = plane.store.units
    job_id = plane.submit()
    assert plane.store.units - before == 1
    assert plane.wakes.count == 1
    view = plane.jobs.show(ME, job_id)
    assert (view.job.submitted_by, view.run.state) == ("me", RunState.PENDING)
    assert [e.kind for e in plane.jobs.events(ME, job_id)] == ["job.submitted"]


def test_a_refused_submission_writes_nothing_and_wakes_nobody(plane: Plane) -> None:
    document = {"name": "w", "team": "nobody", "kind": "batch", "run": "true"}
    with pytest.raises(SpecError, match="does not fit the fleet"):
        plane.jobs.submit(ME, workload_from_document(document, "w.yaml"))
    assert plane.wakes.count == 0
    assert plane.jobs.listing(ME, 10) == []


def test_a_submission_before_any_fleet_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    bare = Plane(tmp_path)
    with pytest.raises(SpecError, match="no fleet is applied") as refused:
        bare.submit()
    assert [p.location for p in refused.value.problems] == ["fleet"]
    assert "aiplane fleet apply FILE" in refused.value.message
    assert bare.wakes.count == 0
    assert bare.jobs.listing(ME, 10) == []


def test_a_fleet_apply_is_visible_at_once_and_wakes_the_scheduler(plane: Plane) -> None:
    assert plane.cache.required().pools().__next__().node.gpus == 8
    state = plane.fleet.apply(ME, fleet_document(gpus=4), "smaller.yaml")
    assert plane.wakes.count == 1
    assert state is not None and state.record.version == 2
    # The cache's TTL is an hour: only the apply's invalidation explains the new fleet here.
    assert next(plane.cache.required().pools()).node.gpus == 4
    assert state.usage["here/gpus"].gpus_total == 8.0


def test_a_fleet_the_backend_refuses_is_not_applied_and_wakes_nobody(plane: Plane) -> None:
    document = fleet_document()
    document["sites"][0]["pools"][0]["backend_config"] = {"chooses_nodes": "sometimes"}
    with pytest.raises(SpecError, match="backend configuration"):
        plane.fleet.apply(ME, document, "bad.yaml")
    assert plane.wakes.count == 0
    shown = plane.fleet.show(ME)
    assert shown is not None and shown.record.version == 1


def test_cancel_commits_state_event_and_usage_then_stops_the_replicas(plane: Plane) -> None:
    job_id = plane.submit(gpus=2)
    plane.place_and_start()
    assert plane.jobs.show(ME, job_id).run.state is RunState.RUNNING
    plane.now += 1800
    before = plane.store.units

    view = plane.jobs.cancel(ME, job_id)

    assert view.run.state is RunState.CANCELLED
    assert plane.store.units - before == 1
    # Each replica was stopped after the commit: the store already said cancelled.
    assert plane.stopped == [RunState.CANCELLED]
    assert len(plane.cluster.calls_named("cancel")) == 1
    (usage,) = plane.store.usage.overlapping(NOW, plane.now)
    assert (usage.outcome, usage.end, usage.gpus) == ("cancelled", plane.now, 2.0)
    assert usage.pricing == "owned"  # priced by the fleet in force
    # The capacity it held is free now: the scheduler need not wait for its next tick.
    assert plane.wakes.count == 2  # the submission's, and the cancel's


def test_a_replica_that_refuses_to_stop_leaves_the_cancel_committed(
    plane: Plane, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = plane.submit(gpus=8, replicas=2)
    plane.place_and_start()
    assert len(plane.store.jobs.run_for_job(job_id).handles) == 2
    plane.refuse_stops = 1
    plane.wakes.count = 0

    with caplog.at_level(logging.WARNING, logger="aiplane.jobs"):
        view = plane.jobs.cancel(ME, job_id)

    assert view.run.state is RunState.CANCELLED
    assert plane.store.jobs.run_for_job(job_id).state is RunState.CANCELLED
    # The first replica refused; the second was still asked, and stopped.
    assert plane.stopped == [RunState.CANCELLED, RunState.CANCELLED]
    assert len(plane.cluster.calls_named("cancel")) == 1
    assert plane.wakes.count == 1
    (record,) = [r for r in caplog.records if r.name == "aiplane.jobs"]
    assert job_id in record.getMessage() and "replica 0" in record.getMessage()
    assert "left to recovery" in record.getMessage()


def test_explain_gives_the_decisions_about_the_job(plane: Plane) -> None:
    job_id = plane.submit()
    plane.place_and_start()
    explained = plane.jobs.explain(ME, job_id)
    assert explained.view.run.placement is not None
    assert [e.kind for e in explained.decisions] == ["run.placed"]


def test_cost_reports_default_to_this_month_and_need_a_fleet(tmp_path: Path) -> None:
    bare = Plane(tmp_path)
    with pytest.raises(SpecError, match="no fleet applied yet"):
        bare.costs.report(ME)
    bare.fleet.apply(ME, fleet_document(), "fleet.yaml")
    report = bare.costs.report(ME)
    assert (report.start, report.end) == (JUNE, NOW)
    with pytest.raises(SpecError, match="empty period"):
        bare.costs.report(ME, start=NOW, end=NOW - 1)


def test_the_parquet_export_goes_through_the_injected_exporter(plane: Plane) -> None:
    plane.submit()
    plane.place_and_start()
    plane.now += 3600
    out = plane.costs.export(ME, ExportFormat.FOCUS_PARQUET)
    assert out.media_type == MemoryExporter.media_type
    (table,) = plane.exporter.tables
    written = json.loads(b"".join(out.chunks))
    assert [c["name"] for c in written["columns"]] == list(table.columns)
    assert table.rows >= 1


def test_tokens_authorize_by_team_role(plane: Plane) -> None:
    audit = AuditLog(plane.store, Ed25519Signer.generate(), plane.clock)
    authenticator = TokenAuthenticator(plane.store, plane.clock)
    access = Access(audit, [authenticator], on_change=authenticator.forget)
    identity = IdentityService(plane.store, access, audit, plane.clock)
    assert identity.ensure_admin() is not None
    assert identity.ensure_admin() is None  # only on the first start
    ci = identity.create_principal(None, "ci", PrincipalKind.SERVICE, teams={"t": TeamRole.VIEWER})
    _, plaintext = identity.issue_token(None, ci, "ci")
    caller = access.authenticate(plaintext)
    assert caller.name == "ci"
    assert access.check(caller, Action.JOB_LIST, Resource("job", team="t")).allowed
    with pytest.raises(PermissionDeniedError, match="member"):
        access.check(caller, Action.JOB_SUBMIT, Resource("job", team="t"))


def test_a_store_read_inside_a_unit_is_refused() -> None:
    # What the cancel test relies on: a replica stopped inside the unit would raise here.
    store = MemoryStore()
    with store.unit_of_work(), pytest.raises(StoreError):
        store.jobs.runs_in_states([RunState.RUNNING])
