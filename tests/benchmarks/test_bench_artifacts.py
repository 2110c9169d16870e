"""``benchmarks/bench_artifacts.py`` runs end to end on a small file and prints its keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_artifacts.py"
SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_benchmark_prints_one_line_with_its_keys() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, str(BENCH), "--size-mb", "8"],
        capture_output=True,
        check=True,
        text=True,
        env=env,
        timeout=120,
    )
    (line,) = out.stdout.splitlines()
    figures = json.loads(line)
    assert figures["size_mb"] == 8
    for key in ("sha256sum_mb_s", "upload_mb_s", "verify_mb_s", "disk_copy_fsync_mb_s"):
        assert figures[key] > 0
    assert figures["upload_vs_sha256sum"] > 0 and figures["verify_vs_sha256sum"] > 0
    assert figures["peak_rss_mb"] < 200  # streamed: an 8 MB file or a 5 GB one alike
