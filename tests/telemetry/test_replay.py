"""Recordings: the H200 format's units, playback by time offset, many GPUs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplane.core.errors import SpecError
from aiplane.telemetry.replay import (
    ReplaySource,
    load_recording,
    parse_lines,
    sample_to_record,
)
from tests.telemetry.conftest import FIXTURE


def test_h200_units_are_converted() -> None:
    rec = load_recording(FIXTURE, hostname="h")
    [gpu] = rec.gpus
    assert gpu.name == "NVIDIA H200"
    assert gpu.uuid == "GPU-dccf5cca-8856-4418-9dae-d65437afb9ab"
    assert gpu.power_limit_w == 700.0
    assert gpu.gpm_supported
    copy = next(s for s in rec.samples if s.phase == "copy_membound")
    assert copy.power_w == pytest.approx(668.408)  # from mW
    assert copy.energy_j == pytest.approx(8624.374)  # from mJ
    assert copy.memory_total_mib == 143771
    assert copy.process_count == 1 and copy.processes == ()
    assert copy.gpm is not None
    assert copy.gpm.sm_active == pytest.approx(0.99347)  # from percent
    assert copy.gpm.dram_active == pytest.approx(0.88867)
    assert copy.hostname == "h"


def test_full_shared_recording_reads(shared_h200: Path) -> None:
    rec = load_recording(shared_h200)
    assert len(rec.samples) == 130
    phases = list(dict.fromkeys(s.phase for s in rec.samples))
    assert phases == [
        "idle",
        "matmul_bf16",
        "copy_membound",
        "tiny_kernels",
        "idle_holding_40gib",
        "idle_after",
    ]


def test_records_round_trip() -> None:
    rec = load_recording(FIXTURE)
    lines = [json.dumps(sample_to_record(s)) for s in rec.samples]
    again = parse_lines(lines, rec.gpus[0])
    assert again == list(rec.samples)


def test_playback_follows_the_clock_in_order() -> None:
    rec = load_recording(FIXTURE)
    source = ReplaySource(rec, loop=False)
    t0 = rec.samples[0].t
    start = 5000.0
    seen = []
    for step in range(40):
        [s] = source.sample(start + step)
        seen.append(s.phase)
        # the sample shown is the last one recorded at or before this offset
        expected = [x for x in rec.samples if x.t - t0 <= step][-1]
        assert s.util_pct == expected.util_pct
        assert s.t == pytest.approx(start + (expected.t - t0))
    assert list(dict.fromkeys(seen)) == list(dict.fromkeys(x.phase for x in rec.samples))


def test_a_virtual_clock_can_jump_and_the_replay_loops() -> None:
    rec = load_recording(FIXTURE)
    source = ReplaySource(rec, start=0.0)
    [first] = source.sample(0.0)
    [again] = source.sample(source.period_s)  # one full period later: the start again
    assert again.phase == first.phase == "idle"
    assert again.t == pytest.approx(source.period_s)
    [held] = ReplaySource(rec, start=0.0, loop=False).sample(10 * source.period_s)
    assert held.phase == "idle_after"


def test_one_recorded_gpu_plays_as_many() -> None:
    source = ReplaySource.from_file(FIXTURE, gpus=8)
    gpus = source.static()
    assert [g.index for g in gpus] == list(range(8))
    assert len({g.uuid for g in gpus}) == 8
    phases = {s.phase for s in source.sample(1_000.0 + 20.0)}
    assert len(phases) > 1  # shifted in time, not in lock-step


def test_multi_gpu_recordings_with_process_lists(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    rows = [
        {"t": 1.0, "gpu": g, "uuid": f"GPU-{g}", "name": "NVIDIA L4", "util_gpu_pct": 10 * g,
         "fb_used_mib": 100, "fb_total_mib": 23034,
         "procs": [{"pid": 40 + g, "used_memory_mib": 90}]}
        for g in (0, 1)
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    rec = load_recording(path)
    assert [(g.index, g.name) for g in rec.gpus] == [(0, "NVIDIA L4"), (1, "NVIDIA L4")]
    assert rec.samples[1].processes[0].pid == 41
    assert rec.samples[1].gpm is None
    assert not rec.gpus[0].gpm_supported


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{"t": 1, "util_gpu_pct": 1, "fb_used_mib": 1}\nnope\n', "bad.jsonl:2"),
        ('{"t": 1, "util_gpu_pct": "high", "fb_used_mib": 1}\n', "bad.jsonl:1"),
        ('{"util_gpu_pct": 1, "fb_used_mib": 1}\n', "bad.jsonl:1"),
        ("[1, 2]\n", "bad.jsonl:1"),
    ],
)
def test_bad_lines_are_located(tmp_path: Path, content: str, where: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    with pytest.raises(SpecError) as info:
        load_recording(bad)
    assert [p.location for p in info.value.problems] == [where]


def test_empty_and_missing_recordings(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(SpecError, match="no samples"):
        load_recording(tmp_path / "empty.jsonl")
    with pytest.raises(SpecError, match="cannot read"):
        load_recording(tmp_path / "missing.jsonl")
