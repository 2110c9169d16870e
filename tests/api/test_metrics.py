"""``GET /metrics``: Prometheus text, dcgm-exporter's names and labels, aiplane's own series."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path

import prometheus_client
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aiplane.api.app import create_app
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.errors import SpecError
from aiplane.core.runs import ReplicaAssignment, RunState
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane, telemetry_source
from tests.store.factories import T0, job, placement, run
from tests.telemetry.conftest import FIXTURE

NOW = T0 + 7200.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def replay_cp(tmp_path: Path) -> ControlPlane:
    settings = Settings(
        home=tmp_path, database_url="memory://", catalog_dir=None, telemetry_replay=FIXTURE
    )
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
        clock=lambda: NOW,
    )


def scrape(cp: ControlPlane) -> dict[str, list[tuple[dict[str, str], float]]]:
    with TestClient(create_app(cp.services)) as client:
        response = client.get("/metrics")  # no token: Prometheus scrapes it as it is
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_gpu_series_have_dcgm_names_units_and_labels(replay_cp: ControlPlane) -> None:
    replay_cp.telemetry.step(NOW - 1)
    replay_cp.telemetry.step(NOW + 17)  # into the copy_membound phase of the recording
    m = scrape(replay_cp)
    [(labels, util)] = m["DCGM_FI_DEV_GPU_UTIL"]
    assert labels == {
        "gpu": "0",
        "UUID": "GPU-dccf5cca-8856-4418-9dae-d65437afb9ab",
        "device": "nvidia0",
        "modelName": "NVIDIA H200",
        "Hostname": labels["Hostname"],
    }
    assert labels["Hostname"]
    assert util > 90  # percent, as dcgm-exporter
    [(_, fb)] = m["DCGM_FI_DEV_FB_USED"]
    assert fb == pytest.approx(9945)  # MiB
    [(_, power)] = m["DCGM_FI_DEV_POWER_USAGE"]
    assert 400 < power < 700  # W
    for name in ("DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE"):
        [(_, ratio)] = m[name]
        assert 0.85 < ratio <= 1.0  # a ratio, not percent
    [(_, tensor)] = m["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"]
    assert tensor == 0.0
    assert m["aiplane_telemetry_samples_total"] == [({}, 2.0)]


def test_runs_queue_and_cost(replay_cp: ControlPlane) -> None:
    store = replay_cp.store
    waiting = job(1)
    store.jobs.add(waiting, replace(run(waiting), updated_at=NOW - 300))
    busy = job(2)
    p = placement(
        usd_per_hour=10.0,
        assignments=(ReplicaAssignment(0, "node-0", 1.0, (0,)),),
    )
    store.jobs.add(
        busy, replace(run(busy), state=RunState.RUNNING, placement=p, started_at=NOW - 1800)
    )
    replay_cp.telemetry.step(NOW)
    m = scrape(replay_cp)
    states = {labels["state"]: value for labels, value in m["aiplane_runs"]}
    assert states["pending"] == 1 and states["running"] == 1 and states["failed"] == 0
    assert m["aiplane_queue_pending_runs"] == [({}, 1.0)]
    assert m["aiplane_queue_oldest_wait_seconds"] == [({}, 300.0)]
    assert m["aiplane_queue_wait_seconds_count"] == [({}, 1.0)]
    [(labels, usd)] = m["aiplane_cost_usd_total"]
    assert labels == {"site": p.site, "pool": p.pool}
    assert usd == pytest.approx(5.0)  # $10/h for half an hour
    # The replay stands in for the emulated run's declared GPU 0.
    [(owner, _)] = m["aiplane_gpu_run_info"]
    assert owner["run"] == run(busy).id and owner["gpu"] == "0"


def test_nothing_lands_in_the_global_registry(replay_cp: ControlPlane) -> None:
    scrape(replay_cp)
    names = set(prometheus_client.REGISTRY._names_to_collectors)
    assert not any(n.startswith(("aiplane_", "DCGM_")) for n in names)


def test_not_in_the_api_schema(replay_cp: ControlPlane) -> None:
    with TestClient(create_app(replay_cp.services)) as client:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/metrics" not in paths


def test_the_loop_samples_while_the_plane_runs(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url="memory://",
        catalog_dir=None,
        telemetry_replay=FIXTURE,
        telemetry_interval_s=0.05,
    )
    cp = ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
    )
    # The process runs the loops (as ``aiplane.server`` does), the app only serves.
    cp.start()
    try:
        deadline = time.monotonic() + 10
        while cp.telemetry.snapshot().ticks < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        m = scrape(cp)
        assert m["aiplane_telemetry_samples_total"][0][1] >= 3
    finally:
        cp.stop()
    assert not cp.telemetry_loop._thread.is_alive()


def test_the_grafana_dashboard_plots_only_series_we_serve(replay_cp: ControlPlane) -> None:
    store = replay_cp.store
    busy = job(2)
    p = placement(assignments=(ReplicaAssignment(0, "node-0", 1.0, (0,)),))
    started = replace(run(busy), state=RunState.RUNNING, placement=p, started_at=NOW - 60)
    store.jobs.add(busy, started)
    replay_cp.telemetry.step(NOW)
    replay_cp.telemetry.step(NOW + 1)
    served = set(scrape(replay_cp))
    dashboard = json.loads((ROOT / "examples" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"]]
    names = {n for e in exprs for n in re.findall(r"\b(?:DCGM_FI_\w+|aiplane_\w+)", e)}
    assert len(names) >= 10
    assert names <= served, names - served


def test_an_unknown_telemetry_mode_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None, telemetry="gpu")
    with pytest.raises(SpecError, match="telemetry"):
        telemetry_source(settings)
    off = Settings(home=tmp_path, database_url="memory://", catalog_dir=None, telemetry="off")
    assert telemetry_source(off) is None
