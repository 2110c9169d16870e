"""``benchmarks/bench_registry.py`` runs end to end at a small scale against its own server
process and prints one line with the issue's keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_registry.py"
SRC = Path(__file__).resolve().parents[2] / "src"
KEYS = (
    "versions_per_s",
    "alias_lookups_per_s",
    "alias_lookup_p99_ms",
    "upload_mb_s",
    "verify_mb_s",
    "sha256sum_mb_s",
    "server_peak_rss_mb",
)


def test_the_benchmark_prints_one_line_with_its_keys() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("AIPLANE_DATABASE_URL", None)
    args = ["--versions", "50", "--lookups", "200", "--size-gb", "0.01", "--threads", "2"]
    out = subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        check=True,
        text=True,
        env=env,
        timeout=300,
    )
    (line,) = out.stdout.splitlines()
    figures = json.loads(line)
    assert (figures["versions"], figures["lookups"], figures["database"]) == (50, 200, "sqlite")
    for key in KEYS:
        assert figures[key] > 0, key
    assert figures["size_mb"] == round(0.01 * 1024, 1)
    # The server process's own peak (VmHWM of its pid): a small upload stays small.
    assert figures["server_peak_rss_mb"] < 300
    assert figures["targets"]["alias_lookup_p99_ms_max"] == 10
