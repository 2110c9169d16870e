"""Metering through the services: every attempt that held capacity leaves one interval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aiplane.core.events import Event
from aiplane.core.runs import Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.services.execution import Executor
from aiplane.services.ids import new_id
from aiplane.services.metering import record_usage
from aiplane.specs import workload_from_document
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from tests.identities import ME
from tests.services.fleets import NO_BACKENDS, apply_fleet, fleet_cache, job_service, stored_fleet
from tests.store import factories

# Nothing here has processes to stop: no backend is ever built.

T0 = 1_750_000_000.0
FLEET: dict[str, Any] = {
    "sites": [
        {
            "name": "gcp",
            "kind": "cloud",
            "region": "us-central1",
            "jurisdiction": "US",
            "pools": [
                {
                    "name": "a3-spot",
                    "backend": "emulated",
                    "nodes": 4,
                    "node": {"accelerator": "H100", "gpus": 8, "cpus": 96, "memory_gib": 1024},
                    "pricing": {"model": "spot", "usd_per_gpu_hour": 2.5},
                }
            ],
        },
        {
            "name": "fra",
            "kind": "onprem",
            "region": "eu-central",
            "jurisdiction": "EU",
            "egress_usd_per_gb": 0.05,
        },
    ],
    "teams": [{"name": "research"}],
    "datasets": [
        {"name": "clicks", "site": "fra", "size_gb": 200},
        {"name": "local", "site": "gcp", "size_gb": 50},
    ],
}


def placement() -> Placement:
    return Placement(
        pool="gcp/a3-spot",
        site="gcp",
        backend="emulated",
        accelerator="H100-80GB",
        assignments=(
            ReplicaAssignment(0, "gcp/a3-spot/0", 8.0),
            ReplicaAssignment(1, "gcp/a3-spot/1", 8.0),
        ),
        usd_per_hour=40.0,
        emulated=True,
    )


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    apply_fleet(s, FLEET, T0)
    return s


def submit(store: Store) -> str:
    """A queued job of this workload, stored as a submission stores it but without its checks
    against the fleet in force (tests that reuse it apply fleets without these datasets)."""
    w = workload_from_document(
        {
            "name": "ft",
            "team": "research",
            "kind": "finetune",
            "run": "true",
            "inputs": ["clicks", "local"],
            "project": "llama",
            "labels": {"model": "llama-3-8b"},
        },
        "w.yaml",
    )
    job = Job(new_id("j-", T0), w, T0, "me")
    run = factories.run(job)
    with store.unit_of_work() as uow:
        uow.jobs.add(job, run)
        uow.events.add(Event(T0, "job.submitted", "ft submitted by me", job.id, run.id))
    return job.id


def start(store: Store, job_id: str, at: float) -> Run:
    run = store.jobs.run_for_job(job_id)
    admitted = replace(run.transition(RunState.ADMITTED, at), placement=placement())
    admitted = store.jobs.update_run(admitted, RunState.PENDING)
    starting = store.jobs.update_run(admitted.transition(RunState.STARTING, at), RunState.ADMITTED)
    return store.jobs.update_run(starting.transition(RunState.RUNNING, at), RunState.STARTING)


def test_a_preempted_and_requeued_run_is_metered_per_attempt(
    store: MemoryStore, tmp_path: Path
) -> None:
    job_id = submit(store)
    job = store.jobs.get(job_id)
    fleet = stored_fleet(store)
    first = start(store, job_id, T0 + 100)
    preempted = first.transition(RunState.PREEMPTED, T0 + 3700, "preempted")
    preempted = store.jobs.update_run(preempted, RunState.RUNNING)
    record_usage(store, job, first, T0 + 3700, outcome=RunState.PREEMPTED, fleet=fleet)
    requeued = preempted.transition(RunState.PENDING, T0 + 3700)
    store.jobs.update_run(requeued, RunState.PREEMPTED)
    assert requeued.started_at is None and requeued.attempt == 2

    second = start(store, job_id, T0 + 7300)
    executor = Executor(store, NO_BACKENDS, tmp_path, fleet_cache(store).current)
    assert executor._finish(second, RunState.SUCCEEDED, T0 + 9100, None, 0)

    a, b = store.usage.overlapping(T0, T0 + 86400)
    assert (a.attempt, a.start, a.end, a.outcome) == (1, T0 + 100, T0 + 3700, "preempted")
    assert (b.attempt, b.start, b.end, b.outcome) == (2, T0 + 7300, T0 + 9100, "succeeded")
    assert (a.team, a.project, a.model, a.pricing, a.gpus) == (
        "research",
        "llama",
        "llama-3-8b",
        "spot",
        16.0,
    )
    # Only the dataset away from the site moves: 200 GB at fra's egress price, per attempt.
    assert a.egress_gb == 200.0 and a.egress_usd == pytest.approx(10.0)
    assert b.egress_usd == pytest.approx(10.0)
    # A second report of the same attempt's end stores nothing.
    assert record_usage(store, job, second, T0 + 9999, outcome=RunState.FAILED, fleet=fleet) is None
    assert len(store.usage.overlapping(T0, T0 + 86400)) == 2


def test_cancelling_a_running_job_meters_it(store: MemoryStore) -> None:
    job_id = submit(store)
    start(store, job_id, T0 + 60)
    job_service(store, T0 + 1860).cancel(ME, job_id)
    (u,) = store.usage.overlapping(T0, T0 + 86400)
    assert (u.start, u.end, u.outcome, u.usd_per_hour) == (T0 + 60, T0 + 1860, "cancelled", 40.0)


def test_a_run_that_never_started_is_not_metered(store: MemoryStore) -> None:
    job_id = submit(store)
    job_service(store, T0 + 10).cancel(ME, job_id)
    assert store.usage.overlapping(T0, T0 + 86400) == []


def test_the_preemption_hook_meters_the_stopped_attempt(store: MemoryStore) -> None:
    from aiplane.services.metering import preemption_hook

    job_id = submit(store)
    running = start(store, job_id, T0)
    fleet = stored_fleet(store)
    assert fleet is not None
    with store.unit_of_work() as uow:
        preemption_hook(fleet)(uow, running, T0 + 1800)
    (u,) = store.usage.overlapping(T0, T0 + 86400)
    assert (u.outcome, u.end) == ("preempted", T0 + 1800)
