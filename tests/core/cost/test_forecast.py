"""Forecasts: history alone, known work alone, both, and the interval."""

from __future__ import annotations

import pytest

from aiplane.core.cost.forecast import KnownWork, forecast

DAY = 86400.0
START, END = 0.0, 30 * DAY


def test_history_alone_extends_the_mean_daily_rate() -> None:
    f = forecast(
        period_start=START,
        period_end=END,
        now=10 * DAY,
        spent_usd=1000.0,
        daily_history=[100.0] * 10,
    )
    assert f.expected_usd == pytest.approx(1000 + 20 * 100)
    assert f.known_usd == 0 and f.low_usd == f.high_usd == pytest.approx(f.expected_usd)


def test_known_work_is_a_floor_for_the_hours_it_covers() -> None:
    # A week-long job at $50/h, far above the usual $100/day: it dominates its week.
    job = KnownWork("r1", usd_per_hour=50.0, remaining_hours=7 * 24, running=False)
    f = forecast(
        period_start=START,
        period_end=END,
        now=10 * DAY,
        spent_usd=1000.0,
        daily_history=[100.0] * 10,
        known=[job],
    )
    assert f.known_usd == pytest.approx(50 * 168)
    assert f.history_usd == pytest.approx(13 * 100)  # only after the job's week
    # A small running job does not add to a steady history: the history covers it.
    small = KnownWork("r2", usd_per_hour=1.0, remaining_hours=10, running=True)
    g = forecast(
        period_start=START,
        period_end=END,
        now=10 * DAY,
        spent_usd=1000.0,
        daily_history=[100.0] * 10,
        known=[small],
    )
    assert g.expected_usd == pytest.approx(1000 + 20 * 100)


def test_known_work_is_cut_at_the_period_end() -> None:
    job = KnownWork("r1", usd_per_hour=10.0, remaining_hours=1000, running=True)
    f = forecast(
        period_start=START,
        period_end=END,
        now=29 * DAY,
        spent_usd=0.0,
        daily_history=[],
        known=[job],
    )
    assert f.known_usd == pytest.approx(240.0)


def test_the_interval_widens_with_variable_history() -> None:
    steady = forecast(
        period_start=START, period_end=END, now=10 * DAY, spent_usd=0.0, daily_history=[100.0] * 10
    )
    noisy = forecast(
        period_start=START,
        period_end=END,
        now=10 * DAY,
        spent_usd=0.0,
        daily_history=[0.0, 200.0] * 5,
    )
    assert steady.expected_usd == pytest.approx(noisy.expected_usd)
    assert noisy.low_usd < noisy.expected_usd < noisy.high_usd
    assert noisy.high_usd - noisy.low_usd > 0.5 * noisy.expected_usd
