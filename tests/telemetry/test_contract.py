"""The contract every telemetry source keeps. NVML runs only where a GPU and driver are."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from aiplane.core.errors import TelemetryError
from aiplane.telemetry.base import GpuSample, HostMetrics, TelemetrySource
from aiplane.telemetry.fake import FakeSource
from aiplane.telemetry.host import HostSource
from aiplane.telemetry.replay import ReplaySource
from tests.telemetry.conftest import FIXTURE


def _nvml() -> TelemetrySource:
    from aiplane.telemetry.nvml import NvmlSource

    try:
        return NvmlSource()
    except TelemetryError as exc:
        pytest.skip(f"NVML not usable here (needs an NVIDIA GPU, driver and [nvml] extra): {exc}")


FACTORIES: dict[str, Callable[[], TelemetrySource]] = {
    "replay": lambda: ReplaySource.from_file(FIXTURE),
    "replay-8gpu": lambda: ReplaySource.from_file(FIXTURE, gpus=8),
    "host": HostSource,
    "fake": FakeSource,
    "nvml": _nvml,
}


@pytest.fixture(params=list(FACTORIES))
def source(request: pytest.FixtureRequest) -> Iterator[TelemetrySource]:
    made = FACTORIES[request.param]()
    yield made
    made.close()


def _check_sample(s: GpuSample) -> None:
    assert 0.0 <= s.util_pct <= 100.0
    assert s.mem_util_pct is None or 0.0 <= s.mem_util_pct <= 100.0
    assert 0.0 <= s.memory_used_mib <= s.memory_total_mib
    assert s.power_w is None or s.power_w >= 0.0
    assert s.energy_j is None or s.energy_j >= 0.0
    assert s.process_count >= len(s.processes)
    assert len({p.pid for p in s.processes}) == len(s.processes)
    if s.gpm is not None:
        for ratio in (s.gpm.sm_active, s.gpm.sm_occupancy, s.gpm.tensor_active, s.gpm.dram_active):
            assert 0.0 <= ratio <= 1.0


def test_static_lists_gpus_in_index_order(source: TelemetrySource) -> None:
    gpus = source.static()
    assert [g.index for g in gpus] == list(range(len(gpus)))
    assert len({g.uuid for g in gpus}) == len(gpus)
    for g in gpus:
        assert g.uuid and g.name and g.hostname
        assert g.memory_total_mib > 0


def test_sample_reports_every_gpu_once(source: TelemetrySource) -> None:
    gpus = source.static()
    now = 1_800_000_000.0
    for tick in range(5):
        samples = source.sample(now + tick)
        assert [(s.index, s.uuid) for s in samples] == [(g.index, g.uuid) for g in gpus]
        for s in samples:
            assert s.t <= now + tick + 1e-6
            _check_sample(s)


def test_sample_times_do_not_go_backwards(source: TelemetrySource) -> None:
    last: dict[int, float] = {}
    now = 1_800_000_000.0
    for tick in range(20):
        for s in source.sample(now + tick * 0.5):
            assert s.t >= last.get(s.index, float("-inf"))
            last[s.index] = s.t


def test_host_capability(source: TelemetrySource) -> None:
    if not isinstance(source, HostMetrics):
        pytest.skip(f"{source.name} has no host metrics")
    me = os.getpid()
    first = source.host_sample(1.0, pids=[me])
    assert first.cpu_count >= 1
    assert 0 < first.memory_used_bytes <= first.memory_total_bytes
    assert 0.0 <= first.cpu_pct <= 100.0
    assert all(p.pid == me for p in first.processes)
    only_me = source.host_sample(2.0, pids=[me, 999_999_999])
    assert {p.pid for p in only_me.processes} <= {me}
