"""Trace readers: Philly, generic CSV with --map, and the replay options."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.core.errors import SpecError
from aiplane.sim.traces import (
    TraceOptions,
    detect_format,
    load_trace,
    parse_mapping,
    parse_span,
    parse_window,
    read_philly,
)

DATA = Path(__file__).parent / "data"
PHILLY_SAMPLE = DATA / "philly-sample.csv"
GENERIC = DATA / "generic.csv"
SHARED_PHILLY = Path(__file__).resolve().parents[3] / "shared" / "data" / "traces" / "philly.csv"
GENERIC_MAP = {
    "id": "job_uid",
    "submit": "queued_at",
    "duration": "run_seconds",
    "gpus": "gpu_count",
    "gpu_type": "gpu_model",
    "team": "queue_name",
    "priority": "prio",
    "status": "final_state",
    "gpu_fraction": "share",
}


def test_philly_sample_reads_every_row_with_cluster_as_team() -> None:
    jobs = read_philly(PHILLY_SAMPLE)
    assert len(jobs) == 267
    first = jobs[0]
    assert first.id == "philly-000000"
    assert all(len(j.team) == 6 for j in jobs)  # hashed virtual cluster ids
    assert {j.gpus for j in jobs} >= {1.0, 8.0, 16.0}
    assert detect_format(PHILLY_SAMPLE) == "philly"


def test_load_trace_rebases_to_zero_and_keeps_order() -> None:
    trace = load_trace(PHILLY_SAMPLE)
    assert trace.format == "philly"
    submits = [j.submit_s for j in trace.jobs]
    assert submits[0] == 0.0
    assert submits == sorted(submits)
    assert trace.counts["kept"] == 267


@pytest.mark.skipif(not SHARED_PHILLY.exists(), reason="shared Philly trace not present")
def test_the_whole_shared_philly_trace() -> None:
    trace = load_trace(SHARED_PHILLY)
    assert len(trace.jobs) == 82_247
    assert max(j.gpus for j in trace.jobs) == 128
    long = load_trace(SHARED_PHILLY, TraceOptions(min_duration_s=60))
    assert len(long.jobs) == 82_247 - long.counts["shorter_than_min_duration"]
    assert all(j.duration_s >= 60 for j in long.jobs)


def test_generic_csv_with_map() -> None:
    trace = load_trace(GENERIC, mapping=GENERIC_MAP)
    assert trace.format == "csv"
    assert len(trace.jobs) == 60
    by_id = {j.id: j for j in trace.jobs}
    j0 = by_id["j000"]
    assert j0.gpu_type == "A100-80GB" and j0.team == "speech" and j0.priority == 100
    assert j0.status == "Killed"
    assert by_id["j001"].gpus == 0.5  # one GPU at a 0.5 share
    assert by_id["j001"].submit_s == 64.0  # ISO times with a zone, rebased


def test_unmapped_generic_columns_are_reported() -> None:
    with pytest.raises(SpecError) as err:
        load_trace(GENERIC)
    text = str(err.value)
    assert "no column for submit" in text and "--map" in text


def test_map_naming_a_missing_column() -> None:
    with pytest.raises(SpecError, match="no column 'nope' for submit"):
        load_trace(GENERIC, mapping={**GENERIC_MAP, "submit": "nope"})


def test_bad_values_are_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("submit,duration,gpus\n0,10,1\nsoon,10,1\n5,ten,1\n")
    with pytest.raises(SpecError) as err:
        load_trace(bad)
    locations = [p.location for p in err.value.problems]
    assert any(":3: submit" in loc for loc in locations)
    assert any(":4: row" in loc for loc in locations)


def test_options_window_sample_load_factor_min_duration() -> None:
    full = load_trace(PHILLY_SAMPLE)
    day = load_trace(PHILLY_SAMPLE, TraceOptions(window=(None, 86400.0)))
    assert 0 < len(day.jobs) < len(full.jobs)
    assert day.counts["outside_window"] == len(full.jobs) - len(day.jobs)
    sample = load_trace(PHILLY_SAMPLE, TraceOptions(sample=50, seed=3))
    again = load_trace(PHILLY_SAMPLE, TraceOptions(sample=50, seed=3))
    other = load_trace(PHILLY_SAMPLE, TraceOptions(sample=50, seed=4))
    assert len(sample.jobs) == 50 and sample.jobs == again.jobs and sample.jobs != other.jobs
    fast = load_trace(PHILLY_SAMPLE, TraceOptions(load_factor=4))
    assert [j.submit_s * 4 for j in fast.jobs] == pytest.approx([j.submit_s for j in full.jobs])
    long = load_trace(PHILLY_SAMPLE, TraceOptions(min_duration_s=600))
    assert all(j.duration_s >= 600 for j in long.jobs)
    with pytest.raises(SpecError):
        load_trace(PHILLY_SAMPLE, TraceOptions(load_factor=0))


def test_absolute_window() -> None:
    bounds, absolute = parse_window("2017-10-20:2017-10-21")
    assert absolute
    trace = load_trace(PHILLY_SAMPLE, TraceOptions(window=bounds, window_absolute=True))
    full = load_trace(PHILLY_SAMPLE)
    assert 0 < len(trace.jobs) < len(full.jobs)


def test_parsers() -> None:
    assert parse_span("90m") == 5400 and parse_span("2d") == 172800 and parse_span("15") == 15
    assert parse_window("0:7d") == ((0.0, 604800.0), False)
    assert parse_window("12h:") == ((43200.0, None), False)
    assert parse_mapping("submit=a, gpus=b") == {"submit": "a", "gpus": "b"}
    with pytest.raises(SpecError):
        parse_mapping("when=a")
    with pytest.raises(ValueError, match="use START:END"):
        parse_window("1:2:3:4")
