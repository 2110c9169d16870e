"""Reports: JSON shape, plots' resampling, and a clear error without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aiplane.core.errors import MissingDependencyError
from aiplane.core.scheduling.baselines.fifo import Fifo
from aiplane.sim import report
from aiplane.sim.buckets import bucket_means
from aiplane.sim.jobs import TraceJob
from aiplane.sim.metrics import percentile
from aiplane.sim.policies import choose
from aiplane.sim.runner import Comparison, compare
from tests.sim.helpers import small_fleet


def comparison() -> Comparison:
    jobs = [TraceJob(f"j{i}", i * 100.0, 1000.0 + i, 1 + i % 3) for i in range(20)]
    return compare(small_fleet(), jobs, [choose("fifo"), choose("las")])


def test_json_has_a_key_per_policy_with_the_figures() -> None:
    data = report.to_json(comparison())
    assert set(data) == {"fifo", "las"}
    fifo = data["fifo"]
    assert fifo["label"] == "fifo" and fifo["jobs"] == 20 and fifo["violations"] == 0
    assert 0 < fifo["gpu_utilization"] <= 1
    assert fifo["avg_jct_s"] >= fifo["p50_jct_s"] * 0.5


def test_html_report_names_its_plots(tmp_path: Path) -> None:
    page = report.write_html(comparison(), tmp_path, {"trace": "made up"})
    text = page.read_text()
    assert "made up" in text and "queue.png" in text
    assert (tmp_path / "jct_box.png").exists()


def test_missing_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    with pytest.raises(MissingDependencyError, match=r"aiplane\[sim\]"):
        report.write_html(comparison(), tmp_path)


def test_bucket_means_keep_the_time_weighted_mean() -> None:
    times = [0.0, 10.0, 30.0, 100.0]
    values = [1.0, 3.0, 0.0, 0.0]
    xs, ys = bucket_means(times, values, points=10)
    assert len(xs) == len(ys) == 10
    assert sum(ys) * 10 == pytest.approx(1 * 10 + 3 * 20)  # the integral is preserved
    assert ys[0] == pytest.approx(1.0) and ys[5] == pytest.approx(0.0)


def test_percentile_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile([], 50) == 0 and percentile([7.0], 99) == 7


def test_a_policy_instance_is_fresh_per_run() -> None:
    assert choose("fifo").make() is not choose("fifo").make()
    assert isinstance(choose("FIFO").make(), Fifo)
