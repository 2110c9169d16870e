"""Anomalies: an injected spike is found and explained; a clean seasonal series yields none."""

from __future__ import annotations

import numpy as np

from aiplane.core.cost.anomalies import baseline, contributors, detect
from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.metering import meter
from aiplane.core.cost.spend import hourly_pieces, hourly_series

from .factories import HOUR, JUNE, interval

WEEKS = 5


def seasonal(seed: int) -> np.ndarray:
    """Five weeks of hourly spend: busy working hours, quiet nights and weekends, 8% noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(WEEKS * 168)
    hour_of_day = hours % 24
    weekday = (hours // 24) % 7 < 5
    level = np.where((hour_of_day >= 8) & (hour_of_day < 20), 400.0, 120.0)
    level = np.where(weekday, level, 60.0)
    spend: np.ndarray = level * rng.normal(1.0, 0.08, size=len(hours)).clip(0.7, 1.3)
    return spend


def test_clean_series_yield_no_anomaly() -> None:
    for seed in range(20):
        assert detect(seasonal(seed)) == [], seed


def test_an_injected_spike_is_found_where_it_was_put() -> None:
    for seed in range(20):
        series = seasonal(seed)
        at = 4 * 168 + 2 * 24 + 1  # week 5, a night: the spend of six busy days' peaks
        series[at : at + 6] += 8 * 120.0
        found = detect(series)
        assert [(d.first_hour, d.last_hour) for d in found] == [(at, at + 5)], seed
        assert found[0].spend_usd > found[0].baseline_usd + 6 * 900


def test_with_little_history_the_daily_season_is_the_baseline() -> None:
    series = np.tile(np.where(np.arange(24) < 12, 10.0, 50.0), 6)
    med, _ = baseline(series)
    assert np.isnan(med[:72]).all()  # fewer than three days of history
    assert med[100] == series[100]


def test_an_anomaly_is_explained_by_the_runs_that_spent_most() -> None:
    usage = [
        interval(f"r{i}", start=JUNE + h * HOUR, hours=1, gpus=1.0, usd_per_hour=2.0)
        for i, h in enumerate(range(24 * 28))
    ]
    idle_hog = interval(
        "r-hog",
        start=JUNE + 27 * 24 * HOUR + 2 * HOUR,
        hours=6,
        gpus=8.0,
        usd_per_hour=98.0,
        workload="llm-eval",
    )
    u = UsageColumns.from_intervals([*usage, idle_hog])
    hours = 28 * 24
    lines = meter(u, JUNE, JUNE + hours * HOUR)
    pieces = hourly_pieces(lines, JUNE, hours)
    keys, matrix = hourly_series(pieces, lines, u, "team")
    (found,) = detect(matrix[keys.index("research")])
    assert (found.first_hour, found.last_hour) == (27 * 24 + 2, 27 * 24 + 7)
    mask = (pieces.hour >= found.first_hour) & (pieces.hour <= found.last_hour)
    top = contributors(pieces, lines, u, mask, {"r-hog": 0.0})
    assert top[0].run_id == "r-hog" and top[0].hours == 6.0
    assert top[0].describe() == (
        "run r-hog (llm-eval) held 8 H100-80GB at 0% SM activity for 6.0 h on cloud/spot: $588.00"
    )
