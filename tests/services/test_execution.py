"""The executor over the fake backend: which backend calls it makes, and what runs become."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aiplane.backends.base import (
    Backend,
    BackendConfig,
    Handle,
    Landing,
    LaunchSpec,
    ReplicaReport,
)
from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Placement, Run, RunState
from aiplane.core.workloads import ProcessLimits, ServiceSpec, WorkloadKind
from aiplane.services.execution import Executor
from aiplane.store.memory import MemoryStore
from tests import builders
from tests.services.fleets import fleet_cache
from tests.store.factories import T0, job, placement, run

POOL = builders.pool(site="onprem-fra", name="dgx-h100")


class CoreOnly:
    """A backend with nothing but the core protocol (over a fake cluster)."""

    def __init__(self, inner: FakeBackend) -> None:
        self.inner = inner
        self.name, self.emulated = inner.name, inner.emulated

    def launch(self, spec: LaunchSpec) -> Handle:
        return self.inner.launch(spec)

    def poll(self, handle: Handle) -> ReplicaReport:
        return self.inner.poll(handle)

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        self.inner.cancel(handle, grace_s)

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str:
        return self.inner.logs(handle, tail_bytes)


class Plane:
    def __init__(self, tmp: Path, fleet: Fleet | None = None, *, core_only: bool = False):
        self.cluster = FakeCluster()
        fake = self.cluster.factory("emulated", emulated=True)

        def core(_work_root: Path, _config: BackendConfig) -> Backend:
            return CoreOnly(FakeBackend(self.cluster, name="emulated", emulated=True))

        factories = {"emulated": core if core_only else fake}
        self.fleet = fleet or builders.fleet(builders.site("onprem-fra", pools=(POOL,)))
        self.backends = PoolBackends(tmp / "work", lambda: self.fleet, factories)
        self.store = MemoryStore()
        self.executor = Executor(self.store, self.backends, tmp / "ckpt", lambda: self.fleet, 1.0)

    def admit(self, n: int, where: Placement | None = None, **workload: Any) -> Run:
        j = job(n)
        j = replace(j, workload=replace(j.workload, **workload))
        pending = run(j)
        self.store.jobs.add(j, pending)
        admitted = replace(
            pending.transition(RunState.ADMITTED, T0), placement=where or placement()
        )
        return self.store.jobs.update_run(admitted, expected_state=RunState.PENDING)

    def handles(self, run_id: str) -> Sequence[Handle]:
        return self.store.jobs.get_run(run_id).handles

    def state(self, run_id: str) -> RunState:
        return self.store.jobs.get_run(run_id).state

    def messages(self, run_id: str) -> list[str]:
        events = self.store.events.recent(job_id="j" + run_id[1:], limit=50)
        return [e.message for e in events]


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    return Plane(tmp_path)


def test_a_gang_is_submitted_in_one_call(plane: Plane) -> None:
    admitted = plane.admit(1)
    assert plane.executor.launch_admitted(T0 + 1) == 1
    [call] = [c for c in plane.cluster.calls if c[0] in ("launch", "submit_gang")]
    assert call == ("submit_gang", (f"{admitted.id}/a1/r0", f"{admitted.id}/a1/r1"))
    assert plane.state(admitted.id) is RunState.STARTING
    assert [h["node"] for h in plane.handles(admitted.id)] == ["node-0", "node-3"]
    assert not any("landed" in m for m in plane.messages(admitted.id))


def _choosing_plane(tmp_path: Path, cluster: str) -> Plane:
    pool = replace(POOL, backend_config={"chooses_nodes": True, "cluster": cluster})
    return Plane(tmp_path, builders.fleet(builders.site("onprem-fra", pools=(pool,))))


def test_a_gang_placed_by_its_backend_is_placed_where_it_landed(tmp_path: Path) -> None:
    # A fake named for the pool's key chooses the pool's own nodes, not aiplane's.
    plane = _choosing_plane(tmp_path, POOL.key)
    admitted = plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    starting = plane.store.jobs.get_run(admitted.id)
    landed = [f"{POOL.key}/0", f"{POOL.key}/1"]
    assert [h["node"] for h in starting.handles] == landed
    assert [a.node for a in starting.placed().assignments] == landed
    # Resources stay; GPU indices were aiplane's choice on other nodes, so they go.
    assert [(a.gpus, a.gpu_indices) for a in starting.placed().assignments] == [
        (8.0, ()),
        (0.5, ()),
    ]
    assert (
        f"admitted -> starting (2 replicas; landed: replica 0 on {landed[0]}, 1 on {landed[1]})"
        in plane.messages(admitted.id)
    )


def test_a_gang_that_lands_outside_its_pool_fails_and_is_stopped(tmp_path: Path) -> None:
    plane = _choosing_plane(tmp_path, "slurm-a")
    admitted = plane.admit(1)
    assert plane.executor.launch_admitted(T0 + 1) == 0
    failed = plane.store.jobs.get_run(admitted.id)
    assert failed.state is RunState.FAILED
    assert failed.reason == (
        "launch refused: replica 0 on slurm-a/0, replica 1 on slurm-a/1: "
        f"not a node of pool {POOL.key}"
    )
    assert failed.placed().assignments == placement().assignments  # not rewritten
    assert len(plane.cluster.replicas) == 2
    assert all(r.detail.startswith("cancelled") for r in plane.cluster.replicas.values())


def _meddling(plane: Plane, meddle: Callable[[], object]) -> Executor:
    """The plane's executor over a fake that calls ``meddle`` as a gang is submitted: another
    writer acting between the executor's read of the run and its write."""

    class Meddling(FakeBackend):
        def submit_gang(self, specs: Sequence[LaunchSpec]) -> list[Landing]:
            meddle()
            return super().submit_gang(specs)

    def build(_work_root: Path, config: BackendConfig) -> Backend:
        return Meddling(plane.cluster, config, name="emulated", emulated=True)

    backends = PoolBackends(plane.backends.work_root, lambda: plane.fleet, {"emulated": build})
    return replace(plane.executor, backends=backends)


def test_a_launch_written_after_another_write_of_the_run_is_marked_once_more(
    plane: Plane,
) -> None:
    """Someone rewrites the admitted run (same state, new revision) while its gang launches:
    the executor reads it again and marks it starting rather than stopping the gang."""
    admitted = plane.admit(1)

    def note() -> None:
        current = plane.store.jobs.get_run(admitted.id)
        plane.store.jobs.update_run(replace(current, reason="noted"), RunState.ADMITTED)

    assert _meddling(plane, note).launch_admitted(T0 + 1) == 1
    starting = plane.store.jobs.get_run(admitted.id)
    assert starting.state is RunState.STARTING and starting.reason == "noted"
    assert len(starting.handles) == 2
    assert not any(r.detail.startswith("cancelled") for r in plane.cluster.replicas.values())


def test_a_launch_cancelled_meanwhile_stops_what_it_started(plane: Plane) -> None:
    admitted = plane.admit(1)

    def cancel() -> None:
        current = plane.store.jobs.get_run(admitted.id)
        plane.store.jobs.update_run(
            current.transition(RunState.CANCELLED, T0 + 1), RunState.ADMITTED
        )

    assert _meddling(plane, cancel).launch_admitted(T0 + 1) == 0
    assert plane.state(admitted.id) is RunState.CANCELLED
    assert len(plane.cluster.replicas) == 2
    assert all(r.detail.startswith("cancelled") for r in plane.cluster.replicas.values())


def test_a_run_checkpointed_while_it_finishes_is_finished_with_its_reason(plane: Plane) -> None:
    """A write of the running run between the executor's read and its write (a checkpoint
    from the reconciler thread): the finish is applied to the run read again, checkpoint kept."""
    admitted = plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    for handle in plane.handles(admitted.id):
        plane.cluster.start(handle)
    plane.executor.reconcile(T0 + 2)
    read = plane.store.jobs.get_run(admitted.id)
    assert read.state is RunState.RUNNING
    plane.store.jobs.update_run(replace(read, checkpoint_uri="/c/1"), RunState.RUNNING)
    assert plane.executor._finish(read, RunState.FAILED, T0 + 3, "replica 0 exited", 3)
    failed = plane.store.jobs.get_run(admitted.id)
    assert failed.state is RunState.FAILED and failed.reason == "replica 0 exited"
    assert failed.checkpoint_uri == "/c/1"


def test_runs_are_polled_in_one_batch_and_move_with_their_replicas(plane: Plane) -> None:
    first, second = plane.admit(1), plane.admit(2)
    plane.executor.launch_admitted(T0 + 1)
    plane.cluster.calls.clear()
    assert plane.executor.reconcile(T0 + 2) == 0  # all still starting
    assert plane.cluster.calls == [("poll_many", 4)]
    for handle in (*plane.handles(first.id), *plane.handles(second.id)):
        plane.cluster.start(handle)
    assert plane.executor.reconcile(T0 + 3) == 2
    assert plane.state(first.id) is RunState.RUNNING
    for handle in plane.handles(first.id):
        plane.cluster.finish(handle, 0)
    plane.cluster.finish(plane.handles(second.id)[1], 3)
    assert plane.executor.reconcile(T0 + 4) == 2
    assert plane.state(first.id) is RunState.SUCCEEDED
    failed = plane.store.jobs.get_run(second.id)
    assert failed.state is RunState.FAILED and failed.exit_code == 3
    assert failed.reason == "replica 1 exited with code 3 (exited with code 3)"
    # A gang dies together: the replica still running was stopped.
    survivor = plane.handles(second.id)[0]
    assert ("cancel", survivor["id"]) in plane.cluster.calls
    assert plane.cluster.replica(survivor).detail.startswith("cancelled")


def test_a_lost_replica_fails_its_run(plane: Plane) -> None:
    admitted = plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    plane.cluster.lose(plane.handles(admitted.id)[0], "node rebooted")
    plane.executor.reconcile(T0 + 2)
    failed = plane.store.jobs.get_run(admitted.id)
    assert failed.state is RunState.FAILED
    assert failed.reason == "replica 0 lost: node rebooted"


def test_a_core_only_backend_gets_one_launch_and_poll_per_replica(tmp_path: Path) -> None:
    plane = Plane(tmp_path, core_only=True)
    admitted = plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    launches = plane.cluster.calls_named("launch")
    assert launches == [("launch", f"{admitted.id}/a1/r0"), ("launch", f"{admitted.id}/a1/r1")]
    plane.cluster.calls.clear()
    plane.executor.reconcile(T0 + 2)
    assert [c[0] for c in plane.cluster.calls] == ["poll", "poll"]


def test_a_failed_launch_fails_the_run_and_starts_nothing(plane: Plane) -> None:
    plane.cluster.fail_launch("partition gpu is down")
    admitted = plane.admit(1)
    assert plane.executor.launch_admitted(T0 + 1) == 0
    failed = plane.store.jobs.get_run(admitted.id)
    assert failed.state is RunState.FAILED
    assert failed.reason == "launch failed: partition gpu is down"
    assert plane.cluster.replicas == {}


def test_a_core_only_gang_that_fails_half_way_is_stopped(tmp_path: Path) -> None:
    plane = Plane(tmp_path, core_only=True)
    plane.cluster.fail_launch("out of nodes", after=1)
    admitted = plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    assert plane.store.jobs.get_run(admitted.id).reason == "launch failed: out of nodes"
    [first] = plane.cluster.replicas.values()
    assert first.detail.startswith("cancelled")


def test_a_pool_without_a_backend_fails_its_runs_with_the_reason(plane: Plane) -> None:
    admitted = plane.admit(1, placement(backend="slurm"))
    plane.executor.launch_admitted(T0 + 1)
    failed = plane.store.jobs.get_run(admitted.id)
    assert failed.state is RunState.FAILED
    assert failed.reason == "backend unavailable: unknown backend 'slurm'"


def test_a_serving_workload_gets_listening_replicas(plane: Plane) -> None:
    admitted = plane.admit(1, kind=WorkloadKind.SERVE)
    plane.executor.launch_admitted(T0 + 1)
    addresses = [h.get("address") for h in plane.handles(admitted.id)]
    assert addresses == ["node-0:8000", "node-3:8001"]
    batch = plane.admit(2)
    plane.executor.launch_admitted(T0 + 1)
    assert all("address" not in h for h in plane.handles(batch.id))


def test_recovery_adopts_what_still_runs_in_one_batch(plane: Plane, tmp_path: Path) -> None:
    admitted = plane.admit(1)
    plane.executor.launch_admitted(T0 + 1)
    for handle in plane.handles(admitted.id):
        plane.cluster.start(handle)
    backends = PoolBackends(tmp_path / "work", lambda: plane.fleet, plane.backends.factories)
    restarted = Executor(plane.store, backends, tmp_path / "ckpt", fleet_cache(plane.store).current)
    plane.cluster.calls.clear()
    counts = restarted.recover(T0 + 5)
    assert counts["adopted"] == 1 and plane.state(admitted.id) is RunState.RUNNING
    assert plane.cluster.calls_named("poll") == []
    assert plane.cluster.calls_named("poll_many") == [("poll_many", 2), ("poll_many", 2)]


def test_each_replica_is_launched_with_the_workloads_limits(plane: Plane) -> None:
    limits = ProcessLimits(cpu_seconds=60, memory_bytes=2**30, open_files=256, processes=32)
    plane.admit(1, limits=limits)
    assert plane.executor.launch_admitted(T0 + 1) == 1
    specs = [r.spec for r in plane.cluster.replicas.values()]
    assert len(specs) == 2 and all(s.limits == limits for s in specs)


def test_a_service_workload_is_launched_as_a_listening_service(plane: Plane) -> None:
    service = ServiceSpec(readiness_path="/v2/health/ready", backoff_initial_s=0.5)
    plane.admit(1, kind=WorkloadKind.BATCH, service=service)
    assert plane.executor.launch_admitted(T0 + 1) == 1
    specs = [r.spec for r in plane.cluster.replicas.values()]
    assert len(specs) == 2 and all(s.service == service and s.listens for s in specs)
    plain = plane.admit(2)
    plane.executor.launch_admitted(T0 + 1)
    assert all(
        r.spec.service is None for r in plane.cluster.replicas.values() if r.spec.run_id == plain.id
    )
