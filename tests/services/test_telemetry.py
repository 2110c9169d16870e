"""The telemetry recorder: sampling, attribution of runs from the store, per-run aggregates;
and the control plane's own numbers for /metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aiplane.backends.fake import FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.core.runs import ReplicaAssignment, RunState
from aiplane.services import costs
from aiplane.services.metering import record_usage
from aiplane.services.metrics import MetricsService, queue_stats
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.store.memory import MemoryStore
from aiplane.telemetry.base import GpmMetrics, GpuProcess
from aiplane.telemetry.fake import FakeSource
from aiplane.telemetry.replay import ReplaySource
from tests.backends.helpers import make_spec
from tests.services.fleets import apply_fleet, stored_fleet
from tests.services.test_metering import FLEET as METERED_FLEET
from tests.services.test_metering import start, submit
from tests.store.factories import T0, job, placement, run
from tests.telemetry.conftest import FIXTURE

NO_BACKENDS = PoolBackends(Path("work"), factories={})


def _store_with(*runs_and_jobs: tuple[object, object]) -> MemoryStore:
    store = MemoryStore()
    for j, r in runs_and_jobs:
        store.jobs.add(j, r)  # type: ignore[arg-type]
    return store


def _running(n: int, *, backend: str, indices: tuple[int, ...], emulated: bool) -> tuple:  # type: ignore[type-arg]
    j = job(n)
    p = placement(
        backend=backend,
        emulated=emulated,
        assignments=(ReplicaAssignment(0, "node-0", float(len(indices)), indices),),
    )
    r = replace(
        run(j),
        state=RunState.RUNNING,
        placement=p,
        handles=({"id": "none"},),
        started_at=T0,
    )
    return j, r


def test_local_runs_by_pid_and_declared_gpus() -> None:
    j, r = _running(1, backend="local", indices=(0,), emulated=False)
    cluster = FakeCluster()
    backends = PoolBackends(Path("work"), factories={"local": cluster.factory("local")})
    assert r.placement is not None
    handle = backends.for_placement(r.placement).launch(make_spec(run_id=r.id))
    cluster.start(handle)
    cluster.set_pids(handle, frozenset({500, 501}))
    r = replace(r, handles=(handle,))
    store = _store_with((j, r))
    source = FakeSource(gpus=3)
    gpm = GpmMetrics(0.9, 0.2, 0.8, 0.3)
    source.set(0, util_pct=95.0, gpm=gpm, processes=(GpuProcess(500, 1000.0),))
    source.set(2, util_pct=40.0, gpm=gpm, processes=(GpuProcess(501, 10.0),))
    recorder = TelemetryRecorder(source, store, backends, host=source)
    recorder.step(T0 + 10)
    snap = recorder.step(T0 + 11)
    assert snap.gpu_runs == {0: (r.id,), 2: (r.id,)}  # GPU 2 by pid, though not declared
    usage = recorder.usage(r.id)
    assert usage is not None
    assert usage.gpu_seconds == pytest.approx(2.0)  # 1 s x 2 GPUs: the first tick has no interval
    assert usage.avg_sm_active == pytest.approx(0.9)
    assert snap.host is not None and snap.ticks == 2


def test_emulated_runs_only_when_the_samples_are_emulated_too() -> None:
    j, r = _running(2, backend="emulated", indices=(0, 1), emulated=True)
    store = _store_with((j, r))
    real = TelemetryRecorder(FakeSource(gpus=2), store, NO_BACKENDS)
    assert real.step(T0).gpu_runs == {}
    replayed = TelemetryRecorder(
        ReplaySource.from_file(FIXTURE, gpus=2), store, NO_BACKENDS, emulated_samples=True
    )
    assert replayed.step(T0).gpu_runs == {0: (r.id,), 1: (r.id,)}


def test_a_stall_is_not_booked_as_hours() -> None:
    j, r = _running(3, backend="emulated", indices=(0,), emulated=True)
    recorder = TelemetryRecorder(
        FakeSource(gpus=1), _store_with((j, r)), NO_BACKENDS, emulated_samples=True, max_tick_s=5.0
    )
    recorder.step(T0)
    recorder.step(T0 + 3600)  # an hour later: the process was suspended
    usage = recorder.usage(r.id)
    assert usage is not None and usage.gpu_seconds == pytest.approx(5.0)


def test_without_a_source_the_recorder_still_ticks() -> None:
    recorder = TelemetryRecorder(None, MemoryStore(), NO_BACKENDS)
    snap = recorder.step(T0)
    assert (snap.source, snap.samples, snap.ticks) == (None, (), 1)


def test_the_cost_so_far_is_the_metered_cost_of_every_attempt() -> None:
    # A run preempted after an hour, then running again for half an hour: both attempts and
    # the egress of each count, priced as the cost reports price them.
    store = MemoryStore()
    apply_fleet(store, METERED_FLEET, T0)
    fleet = stored_fleet(store)
    job_id = submit(store)
    first = start(store, job_id, T0 + 100)
    preempted = first.transition(RunState.PREEMPTED, T0 + 3700, "preempted")
    preempted = store.jobs.update_run(preempted, RunState.RUNNING)
    job_ = store.jobs.get(job_id)
    record_usage(store, job_, first, T0 + 3700, outcome=RunState.PREEMPTED, fleet=fleet)
    store.jobs.update_run(preempted.transition(RunState.PENDING, T0 + 3700), RunState.PREEMPTED)
    start(store, job_id, T0 + 7300)
    now = T0 + 9100
    metrics = MetricsService(
        store, TelemetryRecorder(None, store, NO_BACKENDS), lambda: now, lambda: fleet
    )

    cost = metrics.plane().cost_usd

    # $40/h for 1 h and for 0.5 h, and 200 GB at $0.05 moved for each attempt.
    assert cost == {("gcp", "gcp/a3-spot"): pytest.approx(40.0 + 20.0 + 10.0 + 10.0)}
    assert fleet is not None
    report = costs.report(store, fleet, "pool", T0, now, now, share_idle_to_teams=False)
    assert sum(cost.values()) == pytest.approx(report.usage_usd)


def test_no_use_costs_nothing() -> None:
    store = MemoryStore()
    metrics = MetricsService(
        store, TelemetryRecorder(None, store, NO_BACKENDS), lambda: T0, lambda: None
    )
    assert metrics.plane().cost_usd == {}


def test_queue_and_runs_by_state() -> None:
    waiting = replace(run(job(1)), updated_at=T0 + 10)
    started = replace(run(job(2)), state=RunState.RUNNING, started_at=T0 + 2 + 45)
    q = queue_stats([waiting, started], now=T0 + 70)
    assert q.pending == 1 and q.oldest_wait_s == pytest.approx(60.0)
    assert q.wait_count == 1 and q.wait_sum_s == pytest.approx(45.0)
    assert dict(q.wait_buckets)[30] == 0 and dict(q.wait_buckets)[60] == 1
    store = _store_with((job(1), waiting), (job(2), started))
    metrics = MetricsService(
        store, TelemetryRecorder(None, store, NO_BACKENDS), lambda: T0 + 70, lambda: None
    )
    m = metrics.plane()
    assert m.runs_by_state[RunState.PENDING] == 1
    assert m.runs_by_state[RunState.RUNNING] == 1
    assert m.runs_by_state[RunState.CANCELLED] == 0
    assert m.queue == q
