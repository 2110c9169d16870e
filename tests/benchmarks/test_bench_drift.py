"""``benchmarks/bench_drift.py`` runs end to end on small generated data: a line per window
with the issue's keys, and a pooled line per mode. Needs ``../shared/bench`` (the generator
and the scorer; ``AIPLANE_BENCH_DIR`` names another folder), else it is skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_drift.py"
BENCH_DIR = Path(os.environ.get("AIPLANE_BENCH_DIR", ROOT.parent / "shared" / "bench"))

pytest.importorskip("pyarrow")
pytest.importorskip("pandas")


@pytest.mark.skipif(
    not (BENCH_DIR / "drift_data.py").exists(), reason="no ../shared/bench/drift_data.py"
)
def test_bench_drift_small(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--rows",
            "3000",
            "--data",
            str(tmp_path),
            "--bench-dir",
            str(BENCH_DIR),
        ],
        capture_output=True,
        check=True,
        text=True,
        env=env,
        timeout=300,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    windows = [x for x in lines if "window" in x]
    pooled = [x for x in lines if x.get("pooled")]
    assert {x["mode"] for x in windows} == {"calibrated", "compatible"}
    for x in windows:
        assert {"rows_current", "wall_s", "peak_rss_mb", "tp", "fp", "fn"} <= set(x)
        assert x["rows_current"] == 3000 and x["peak_rss_mb"] > 0
    assert len(pooled) == 2
    for p in pooled:
        assert 0.0 <= p["recall"] <= 1.0 and p["windows"] == len(windows) // 2
