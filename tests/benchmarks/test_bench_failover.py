"""``benchmarks/bench_failover.py`` runs end to end at a small rate and prints its keys: the
edge is killed under load and every request is still answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_failover.py"
SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_benchmark_prints_one_line_with_its_keys() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, str(BENCH), "--rps", "50", "--seconds", "3", "--kill-at", "1"],
        capture_output=True,
        check=True,
        text=True,
        env=env,
        timeout=120,
    )
    (line,) = out.stdout.splitlines()
    figures = json.loads(line)
    assert figures["requests"] == 150
    assert figures["failed_requests"] == 0
    assert 0 <= figures["reroute_s"] < 2.0  # the breaker opens after a few failed tries
    assert figures["edge_share_before_kill"] > 0.5  # the cheaper site, within the SLO
