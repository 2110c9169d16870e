"""Jobs through the services with a real store and real processes, one loop step at a time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from aiplane.backends.registry import PoolBackends
from aiplane.core.errors import SpecError
from aiplane.core.runs import RunState
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.services.budgets import BudgetCache
from aiplane.services.execution import Executor
from aiplane.services.jobs import JobService
from aiplane.services.scheduling import run_cycle
from aiplane.specs import workload_from_document
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from tests.identities import ME, access_for
from tests.services.fleets import apply_fleet, fleet_cache

FLEET: dict[str, Any] = {
    "sites": [
        {
            "name": "here",
            "kind": "onprem",
            "region": "local",
            "jurisdiction": "EU",
            "pools": [
                {
                    "name": "cpu",
                    "backend": "local",
                    "nodes": 1,
                    "node": {"cpus": 4, "memory_gib": 8},
                    "pricing": {"model": "owned", "usd_per_node_hour": 0.5},
                },
                {
                    "name": "gpus",
                    "backend": "emulated",
                    "nodes": 2,
                    "node": {"accelerator": "H100", "gpus": 8, "cpus": 8, "memory_gib": 64},
                    "pricing": {"model": "owned", "usd_per_gpu_hour": 1.0},
                },
            ],
        }
    ],
    "teams": [{"name": "qa"}],
    "datasets": [{"name": "d", "site": "here", "size_gb": 1}],
}


class Plane:
    def __init__(self, tmp: Path, store: Store | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.backends = PoolBackends(tmp / "work")
        self.executor = Executor(
            self.store, self.backends, tmp / "ckpt", fleet_cache(self.store).current, 1.0
        )
        self.cache = fleet_cache(self.store)
        access, audit = access_for(self.store)
        self.jobs = JobService(
            self.store,
            self.cache,
            BudgetCache(),
            self.backends,
            time.time,
            lambda: None,
            1.0,
            access=access,
            audit=audit,
        )
        apply_fleet(self.store, FLEET, time.time(), self.backends)

    def submit(self, **spec: Any) -> str:
        doc = {"team": "qa", "kind": "batch", **spec}
        w = workload_from_document(doc, "w.yaml")
        return self.jobs.submit(ME, w).job.id

    def step(self) -> None:
        fleet = self.cache.current()
        assert fleet is not None
        run_cycle(self.store, fleet, PriorityBestFit(), time.time())
        self.executor.launch_admitted(time.time())
        self.executor.reconcile(time.time())

    def wait(self, job_id: str, *states: RunState, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step()
            run = self.store.jobs.run_for_job(job_id)
            if run.state in states:
                return run
            time.sleep(0.1)
        raise AssertionError(f"{job_id} stuck in {self.store.jobs.run_for_job(job_id).state}")


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    return Plane(tmp_path)


def test_a_job_runs_to_success_with_its_logs(plane: Plane) -> None:
    job = plane.submit(name="hello", run="echo hello from $AIPLANE_JOB_ID")
    run = plane.wait(job, RunState.SUCCEEDED)
    assert run.exit_code == 0 and run.placement.pool == "here/cpu"
    [(_replica, text)] = plane.jobs.logs(ME, job)
    assert f"hello from {job}" in text
    kinds = [e.kind for e in plane.jobs.events(ME, job)]
    assert kinds[:2] == ["job.submitted", "run.placed"]


def test_a_failing_replica_fails_the_whole_gang(plane: Plane, tmp_path: Path) -> None:
    survivor = tmp_path / "survivor-pid"
    script = (
        'if [ "$AIPLANE_REPLICA_INDEX" = 1 ]; then sleep 0.5; exit 3; fi; '
        f"echo $$ > {survivor}; sleep 60"
    )
    job = plane.submit(
        name="gang", replicas=2, run=script, resources={"accelerators": "H100:8", "cpus": 1}
    )
    run = plane.wait(job, RunState.FAILED)
    assert run.exit_code == 3
    assert "replica 1 exited with code 3" in run.reason
    assert {a.node for a in run.placement.assignments} == {"here/gpus/0", "here/gpus/1"}
    pid = int(survivor.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the other replica of the gang kept running"


def test_cancel_stops_a_running_job_and_frees_its_capacity(plane: Plane) -> None:
    big = plane.submit(name="big", run="sleep 60", resources={"cpus": 4})
    plane.wait(big, RunState.RUNNING)
    waiting = plane.submit(name="next", run="true", resources={"cpus": 4})
    plane.step()
    assert plane.store.jobs.run_for_job(waiting).state is RunState.PENDING
    assert "capacity" in (plane.store.jobs.run_for_job(waiting).reason or "")
    view = plane.jobs.cancel(ME, big)
    assert view.run.state is RunState.CANCELLED
    plane.wait(waiting, RunState.SUCCEEDED)
    # A late report from the cancelled run's processes cannot resurrect it.
    plane.step()
    assert plane.store.jobs.run_for_job(big).state is RunState.CANCELLED


def test_submission_must_fit_the_fleet(plane: Plane) -> None:
    with pytest.raises(SpecError) as err:
        plane.submit(name="x", run="true", team="nobody", inputs=["d", "missing"])
    locations = {p.location for p in err.value.problems}
    assert locations == {"team", "inputs[1]"}


def test_preemption_stops_the_victim_requeues_it_and_meters_its_attempt(plane: Plane) -> None:
    from aiplane.core.scheduling.engine import Engine
    from aiplane.services.metering import preemption_hook

    def step() -> None:
        fleet = plane.cache.current()
        assert fleet is not None
        run_cycle(
            plane.store, fleet, Engine(), time.time(), backends=plane.backends, grace_s=1.0,
            on_run_stopped=preemption_hook(fleet),
        )  # fmt: skip
        plane.executor.launch_admitted(time.time())
        plane.executor.reconcile(time.time())

    plane.step = step  # type: ignore[method-assign]
    low = plane.submit(name="low", run="sleep 60", resources={"cpus": 4}, priority="low")
    first = plane.wait(low, RunState.RUNNING)
    pid_file = Path(first.handles[0]["dir"]) / "supervisor.json"
    high = plane.submit(name="high", run="echo urgent", resources={"cpus": 4}, priority="high")
    plane.wait(high, RunState.SUCCEEDED)
    again = plane.store.jobs.run_for_job(low)
    assert again.attempt == 2  # back in the queue, then placed again once there was room
    events = [e.kind for e in plane.jobs.events(ME, low)]
    assert "run.preempted" in events
    usage = plane.store.usage.overlapping(0, time.time() + 1)
    assert [(u.job_id, u.attempt) for u in usage if u.job_id == low] == [(low, 1)]
    supervisor = json.loads(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{supervisor['child_pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{supervisor['child_pid']}").exists(), "the victim kept running"
    plane.jobs.cancel(ME, low)
