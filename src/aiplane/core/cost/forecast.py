"""Forecast of a period's end-of-period spend, with an interval.

Spend so far is known. Work already queued or running has a known future cost: its remaining
estimated hours at the price of its placement (or, while queued, of its cheapest offer), within
the period. The rest comes from history: the subject's mean daily spend over recent whole days.

Known work is a floor for the hours it covers, not an addition to history: over those hours
the forecast takes the larger of the two, and after them history alone. So a steady team whose
running jobs end soon is forecast by its history, while a team that just queued a week-long
job is forecast by that job.

The interval combines the day-to-day variation of history (scaled by the square root of the
days it covers) with a 25% uncertainty on the estimates of known work, at 80% (z = 1.28).
With fewer than three days of history the spread is taken as half the mean rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiplane.core.cost.periods import DAY_S, HOUR_S

Z_80 = 1.2816
KNOWN_WORK_UNCERTAINTY = 0.25


@dataclass(frozen=True)
class KnownWork:
    run_id: str
    usd_per_hour: float
    remaining_hours: float
    running: bool


@dataclass(frozen=True)
class Forecast:
    period_start: float
    period_end: float
    at: float
    spent_usd: float
    known_usd: float  # the known work's cost inside the period
    history_usd: float  # what history adds beyond known work
    daily_rate_usd: float
    history_days: int
    low_usd: float
    high_usd: float

    @property
    def expected_usd(self) -> float:
        return self.spent_usd + self.known_usd + self.history_usd


def forecast(
    *,
    period_start: float,
    period_end: float,
    now: float,
    spent_usd: float,
    daily_history: Sequence[float] | np.ndarray,
    known: Sequence[KnownWork] = (),
) -> Forecast:
    left_h = max(0.0, period_end - max(now, period_start)) / HOUR_S
    history = np.asarray(daily_history, dtype=np.float64)
    days = len(history)
    if days:
        rate_d = float(history.mean())
    else:
        elapsed_d = max(0.0, now - period_start) / DAY_S
        rate_d = spent_usd / elapsed_d if elapsed_d >= 1.0 else 0.0
    rate_h = rate_d / 24.0
    sd_d = float(history.std(ddof=1)) if days >= 3 else 0.5 * rate_d

    covered = [min(w.remaining_hours, left_h) for w in known]
    known_usd = sum(w.usd_per_hour * h for w, h in zip(known, covered, strict=True))
    horizon_h = max(covered, default=0.0)
    history_in_horizon = rate_h * horizon_h
    history_usd = max(0.0, history_in_horizon - known_usd) + rate_h * (left_h - horizon_h)

    history_days_left = (left_h - horizon_h) / 24.0
    spread = Z_80 * math.sqrt(
        (sd_d**2) * history_days_left + (KNOWN_WORK_UNCERTAINTY * known_usd) ** 2
    )
    future = known_usd + history_usd
    return Forecast(
        period_start=period_start,
        period_end=period_end,
        at=now,
        spent_usd=spent_usd,
        known_usd=known_usd,
        history_usd=history_usd,
        daily_rate_usd=rate_d,
        history_days=days,
        low_usd=spent_usd + max(0.0, future - spread),
        high_usd=spent_usd + future + spread,
    )
