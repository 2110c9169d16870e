"""Samples to runs: by pid where NVML lists processes, by declared GPUs always."""

from __future__ import annotations

import pytest

from aiplane.telemetry.attribution import Basis, RunAllocation, accumulate, attribute
from aiplane.telemetry.base import GpmMetrics, GpuProcess, GpuSample


def sample(index: int, pids: tuple[int, ...] = (), **kw: object) -> GpuSample:
    fields: dict[str, object] = {
        "t": 100.0,
        "index": index,
        "uuid": f"GPU-{index}",
        "name": "NVIDIA H100 80GB HBM3",
        "hostname": "h",
        "util_pct": 50.0,
        "memory_used_mib": 1000.0,
        "memory_total_mib": 81559.0,
        "power_w": 300.0,
        "processes": tuple(GpuProcess(p, 10.0) for p in pids),
        "process_count": len(pids),
    }
    fields.update(kw)
    return GpuSample(**fields)  # type: ignore[arg-type]


def test_pid_match_wins_and_catches_processes_on_gpus_not_declared() -> None:
    local = RunAllocation("r1", "j1", frozenset({0}), frozenset({10, 11}))
    found = attribute([sample(0, (10,)), sample(1, (11,)), sample(2)], [local])
    assert [(a.run_id, a.sample.index, a.basis) for a in found] == [
        ("r1", 0, Basis.PID),
        ("r1", 1, Basis.PID),  # a process on GPU 1, though only GPU 0 was given
    ]


def test_declared_gpus_count_even_unused() -> None:
    emulated = RunAllocation("r2", "j2", frozenset({0, 1}))
    found = attribute([sample(0), sample(1), sample(2)], [emulated])
    assert [(a.sample.index, a.basis, a.share) for a in found] == [
        (0, Basis.DECLARED, 1.0),
        (1, Basis.DECLARED, 1.0),
    ]


def test_a_shared_gpu_is_split_equally() -> None:
    a = RunAllocation("a", "ja", frozenset({0}))
    b = RunAllocation("b", "jb", frozenset(), frozenset({7}))
    found = attribute([sample(0, (7,))], [a, b])
    assert sorted((x.run_id, x.share) for x in found) == [("a", 0.5), ("b", 0.5)]


def test_accumulate_weights_by_time_and_share() -> None:
    gpm = GpmMetrics(sm_active=0.8, sm_occupancy=0.2, tensor_active=0.5, dram_active=0.1)
    alloc = RunAllocation("r", "j", frozenset({0, 1}))
    tick1 = attribute([sample(0, gpm=gpm), sample(1)], [alloc])
    usage = accumulate({}, tick1, dt_s=2.0)
    tick2 = attribute([sample(0, t=102.0, gpm=gpm, memory_used_mib=5000.0)], [alloc])
    usage = accumulate(usage, tick2, dt_s=1.0)
    u = usage["r"]
    assert u.gpu_seconds == pytest.approx(5.0)  # 2 GPUs x 2 s + 1 GPU x 1 s
    assert u.gpm_gpu_seconds == pytest.approx(3.0)
    assert u.avg_sm_active == pytest.approx(0.8)
    assert u.avg_tensor_active == pytest.approx(0.5)
    assert u.avg_util == pytest.approx(0.5)
    assert u.energy_j == pytest.approx(300.0 * 5)
    assert u.max_memory_used_mib == 5000.0
    assert (u.first_t, u.last_t, u.samples, u.gpus) == (100.0, 102.0, 3, frozenset({0, 1}))
