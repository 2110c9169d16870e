"""Waste findings on synthetic series: each kind, thresholds, durations, money, fallbacks."""

from __future__ import annotations

import random
from typing import Any

import pytest

from aiplane.core.cost.waste import (
    Action,
    Basis,
    Observation,
    WasteKind,
    WastePolicy,
    change_points,
    find_waste,
    total_usd,
)

T0 = 1_800_000_000.0
TOTAL = 81920.0  # MiB, an 80 GB GPU


def series(
    seconds: float,
    *,
    start: float = T0,
    step: float = 10.0,
    gpu: int = 0,
    gpm: bool = True,
    **fields: float | bool | str | None,
) -> list[Observation]:
    """``seconds`` of identical observations every ``step`` seconds from ``start``."""
    base: dict[str, float | bool | str | None] = {
        "util": 0.0,
        "memory_used_mib": 1000.0,
        "memory_total_mib": TOTAL,
        "sm_active": 0.0,
        "tensor_active": 0.0,
        "dram_active": 0.0,
        "sm_occupancy": 0.0,
    }
    base.update(fields)
    if not gpm:
        for key in ("sm_active", "tensor_active", "dram_active", "sm_occupancy"):
            base[key] = None
    n = int(seconds / step)
    return [Observation(t=start + i * step, gpu=gpu, **base) for i in range(n)]  # type: ignore[arg-type]


def test_idle_needs_the_minimum_duration() -> None:
    assert find_waste(series(14 * 60), WastePolicy()) == []
    [finding] = find_waste(series(16 * 60), WastePolicy(), usd_per_gpu_hour=4.0)
    assert finding.kind is WasteKind.IDLE
    assert finding.action is Action.RELEASE
    assert finding.start == T0
    assert finding.end == pytest.approx(T0 + 16 * 60)
    assert finding.gpu_hours == pytest.approx(16 / 60, rel=1e-4)
    assert finding.usd == pytest.approx(4.0 * 16 / 60, rel=1e-4)
    assert total_usd([finding]) == finding.usd


def test_a_gpu_nobody_holds_is_not_a_runs_waste() -> None:
    assert find_waste(series(3600, allocated=False)) == []


def test_squatting_is_memory_held_without_any_kernel() -> None:
    [finding] = find_waste(series(3600, memory_used_mib=40_000.0, util=0.01))
    assert finding.kind is WasteKind.SQUATTING
    assert finding.action is Action.RELEASE
    assert "GiB held" in finding.recommendation


def test_tiny_kernels_are_idle_by_sm_activity_though_utilisation_reads_busy() -> None:
    [finding] = find_waste(series(3600, util=0.18, sm_active=0.002, memory_used_mib=10_000.0))
    assert finding.kind is WasteKind.IDLE
    assert finding.basis is Basis.GPM
    assert finding.action is Action.MIG_SLICE
    assert "utilisation reads 18%" in finding.recommendation


def test_without_gpm_utilisation_decides_and_the_finding_says_so() -> None:
    [finding] = find_waste(series(3600, gpm=False, util=0.18, memory_used_mib=10_000.0))
    assert finding.kind is WasteKind.LOW_OCCUPANCY
    assert finding.basis is Basis.UTILISATION
    assert "no GPM" in finding.recommendation


@pytest.mark.parametrize(
    ("fields", "kind", "action"),
    [
        ({"util": 0.6, "sm_active": 0.15, "memory_used_mib": 8000.0}, "low_occupancy", "mig_slice"),
        (
            {"util": 0.6, "sm_active": 0.15, "memory_used_mib": 70_000.0},
            "low_occupancy",
            "co_location",
        ),
        ({"util": 0.9, "sm_active": 0.3, "dram_active": 0.7}, "memory_bound", "co_location"),
        # Saturated DRAM with every SM active: the device is fully used (a copy), not waste.
        ({"util": 1.0, "sm_active": 0.99, "dram_active": 0.89}, None, None),
        # A healthy GEMM: warp occupancy is low, SM and tensor activity high.
        ({"util": 1.0, "sm_active": 0.96, "sm_occupancy": 0.14, "tensor_active": 0.93}, None, None),
    ],
)
def test_kinds(fields: dict[str, Any], kind: str | None, action: str | None) -> None:
    findings = find_waste(series(3600, **fields))
    assert [(f.kind, f.action) for f in findings] == ([(kind, action)] if kind else [])


def test_adjacent_segments_of_one_kind_merge() -> None:
    a = series(600, phase="warmup")
    b = series(600, start=T0 + 600, phase="stalled")
    [finding] = find_waste(a + b)
    assert finding.phases == ("warmup", "stalled")
    assert finding.end - finding.start == pytest.approx(1200)


def test_findings_are_per_gpu() -> None:
    busy = series(3600, gpu=0, util=1.0, sm_active=0.9)
    idle = series(3600, gpu=1)
    assert [(f.gpu, f.kind) for f in find_waste(busy + idle)] == [(1, WasteKind.IDLE)]


def test_change_points_find_a_level_shift_in_noise() -> None:
    rng = random.Random(7)
    busy = [
        Observation(
            t=T0 + i,
            gpu=0,
            util=min(1.0, max(0.0, rng.gauss(0.8, 0.1))),
            memory_used_mib=30_000.0,
            memory_total_mib=TOTAL,
            sm_active=min(1.0, max(0.0, rng.gauss(0.7, 0.1))),
        )
        for i in range(3600)
    ]
    idle = [
        Observation(
            t=T0 + 3600 + i,
            gpu=0,
            util=0.0,
            memory_used_mib=30_000.0,
            memory_total_mib=TOTAL,
            sm_active=abs(rng.gauss(0.0, 0.005)),
        )
        for i in range(1800)
    ]
    starts = change_points(busy + idle, WastePolicy())
    assert starts == [0, 3600]
    [finding] = find_waste(busy + idle)
    assert finding.kind is WasteKind.SQUATTING
    assert finding.start == T0 + 3600


def test_steady_noise_is_not_cut_into_pieces() -> None:
    rng = random.Random(11)
    noisy = [
        Observation(
            t=T0 + i,
            gpu=0,
            util=rng.random(),
            memory_used_mib=20_000.0,
            memory_total_mib=TOTAL,
            sm_active=min(1.0, max(0.0, rng.gauss(0.6, 0.2))),
        )
        for i in range(5000)
    ]
    assert len(change_points(noisy, WastePolicy())) <= 3
