"""The telemetry recorder: sampling, attribution of runs from the store, per-run aggregates;
and the control plane's own numbers for /metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aiplane.backends.fake import FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.core.runs import ReplicaAssignment, RunState
from aiplane.services.metrics import plane_metrics, queue_stats, run_cost_usd
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.store.memory import MemoryStore
from aiplane.telemetry.base import GpmMetrics, GpuProcess
from aiplane.telemetry.fake import FakeSource
from aiplane.telemetry.replay import ReplaySource
from tests.backends.helpers import make_spec
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


def test_run_cost_is_price_times_hours_run() -> None:
    j = job(1)
    p = placement(usd_per_hour=12.0)
    pending = run(j)
    assert run_cost_usd(pending, T0 + 100) == 0.0
    running = replace(pending, state=RunState.RUNNING, placement=p, started_at=T0)
    assert run_cost_usd(running, T0 + 1800) == pytest.approx(6.0)
    done = replace(running, state=RunState.SUCCEEDED, finished_at=T0 + 3600)
    assert run_cost_usd(done, T0 + 99_999) == pytest.approx(12.0)


def test_queue_and_runs_by_state() -> None:
    waiting = replace(run(job(1)), updated_at=T0 + 10)
    started = replace(run(job(2)), state=RunState.RUNNING, started_at=T0 + 2 + 45)
    q = queue_stats([waiting, started], now=T0 + 70)
    assert q.pending == 1 and q.oldest_wait_s == pytest.approx(60.0)
    assert q.wait_count == 1 and q.wait_sum_s == pytest.approx(45.0)
    assert dict(q.wait_buckets)[30] == 0 and dict(q.wait_buckets)[60] == 1
    m = plane_metrics([waiting, started], T0 + 70)
    assert m.runs_by_state[RunState.PENDING] == 1
    assert m.runs_by_state[RunState.CANCELLED] == 0
