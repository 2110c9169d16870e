"""``benchmarks/bench_changes.py``: its scoring rules (one detection per change, the margin,
no look-ahead in the units) and an end-to-end run on river's series (skipped without river)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_changes.py"


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_changes", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_detection_counts_for_one_change() -> None:
    b = bench()
    row = b.score([105, 300], [100, 102 + b.MERGE + 1, 290])
    assert row["found"] == 2  # 105 for the first change only; 300 for the third
    assert row["delays"] == [5, 10]
    assert row["false_alarms"] == 0
    late = b.score([100 + b.MARGIN + 1], [100])
    assert late["found"] == 0 and late["false_alarms"] == 1


def test_annotations_and_detections_merge_within_the_window() -> None:
    b = bench()
    assert b.cluster([10, 12, 14, 40]) == [10, 40]
    assert b.union([[10, 50], [12, 90]]) == [10, 50, 90]
    assert b.evenly(3, 100) == [25, 50, 75]


def test_units_do_not_look_ahead() -> None:
    b = bench()
    x = np.random.default_rng(0).normal(0.0, 1.0, 200)
    y = x.copy()
    y[b.WARMUP :] *= 100.0
    assert b.in_noise_units(x)[: b.WARMUP] == pytest.approx(b.in_noise_units(y)[: b.WARMUP])


def test_bench_changes_runs() -> None:
    pytest.importorskip("river.drift.datasets", reason="river is not installed (the dev extra)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, str(BENCH)], capture_output=True, check=True, text=True, env=env
    )
    line = json.loads(out.stdout)
    for name in ("page_hinkley", "adwin"):
        pooled = line["detectors"][name]["pooled"]
        assert pooled["changes"] > 0 and 0 <= pooled["found"] <= pooled["changes"]
        assert pooled["detections"] >= pooled["found"]
        agreed, total = line["river_agreement"][name].split()[0].split("/")
        assert agreed == total, line["river_agreement"]
