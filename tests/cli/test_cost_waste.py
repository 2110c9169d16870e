"""`aiplane cost waste`: offline analysis of a recording, no control plane needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiplane.cli.commands.cost import parse_duration
from aiplane.cli.main import app
from aiplane.core.errors import SpecError
from aiplane.standalone import gpu_price
from tests.telemetry.conftest import FIXTURE

runner = CliRunner()


def waste(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["cost", "waste", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_findings_with_the_promised_fields() -> None:
    code, out, _ = waste(
        "--recording", str(FIXTURE), "--min-duration", "2s", "--json", "--usd-per-gpu-hour", "4"
    )
    assert code == 0
    findings = json.loads(out)
    assert isinstance(findings, list) and findings
    for f in findings:
        assert {"kind", "gpu", "start", "end", "gpu_hours", "usd", "recommendation"} <= set(f)
        assert f["kind"] in {"idle", "squatting", "low_occupancy", "memory_bound"}
        assert f["end"] > f["start"] > 1.7e9  # unix seconds
        assert f["usd"] == pytest.approx(f["gpu_hours"] * 4, abs=1e-5)
    by_phase = {p: f["kind"] for f in findings for p in f["phases"]}
    assert by_phase["tiny_kernels"] in {"idle", "low_occupancy"}
    assert by_phase["idle_holding_40gib"] == "squatting"
    assert "matmul_bf16" not in by_phase and "copy_membound" not in by_phase


def test_default_minimum_duration_finds_nothing_in_a_35_second_recording() -> None:
    code, out, _ = waste("--recording", str(FIXTURE), "--json", "--usd-per-gpu-hour", "1")
    assert code == 0
    assert json.loads(out) == []


def test_price_defaults_to_the_catalog_and_says_where_from() -> None:
    code, out, err = waste("--recording", str(FIXTURE), "--min-duration", "2s", "--json")
    assert code == 0
    assert "GPU-h" in err and "H200" not in out[:1]
    assert all(f["usd"] > 0 for f in json.loads(out))
    price, source = gpu_price("NVIDIA H200")
    assert price > 0 and "on-demand" in source
    assert gpu_price("NVIDIA Imaginary 9000")[0] == 0.0


def test_table_output_names_each_recommendation() -> None:
    code, out, _ = waste("--recording", str(FIXTURE), "--min-duration", "2s")
    assert code == 0
    assert "release the GPU: 49.8 GiB held" in out


def test_bad_input_exits_2_with_the_location(tmp_path: Path) -> None:
    code, _, err = waste("--recording", str(FIXTURE), "--min-duration", "soon")
    assert code == 2 and "--min-duration" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "util_gpu_pct": 3, "fb_used_mib": 5}\nnot json\n')
    code, _, err = waste("--recording", str(bad))
    assert code == 2 and "bad.jsonl:2" in err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("15m", 900.0), ("1.5h", 5400.0), ("90", 90.0), ("1d", 86400.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


def test_parse_duration_rejects_nonsense() -> None:
    with pytest.raises(SpecError):
        parse_duration("2 fortnights", "x")
