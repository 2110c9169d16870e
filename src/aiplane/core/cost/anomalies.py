"""Anomalies in hourly spend: a seasonal baseline with a robust threshold, explained by runs.

The baseline of an hour is the median spend at the same hour of the week over the previous
``weeks`` weeks (or, with less history, the same hour of the day over the previous week). Its
spread is the median absolute deviation (scaled to a standard deviation), floored at a share
of the baseline and at ``min_usd`` so that a flat history does not make every cent an anomaly.
An hour is anomalous when it exceeds the baseline by ``k`` spreads and by ``min_usd``; runs of
consecutive anomalous hours are one anomaly, explained by the runs that spent most in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.metering import CostLines
from aiplane.core.cost.periods import HOUR_S
from aiplane.core.cost.spend import HourlyPieces

MAD_TO_SIGMA = 1.4826
WEEK_H = 168
DAY_H = 24


@dataclass(frozen=True)
class Detection:
    first_hour: int
    last_hour: int  # inclusive
    spend_usd: float
    baseline_usd: float
    peak_score: float  # the largest excess over the threshold's spread


def _lagged(series: np.ndarray, lag: int, count: int, width: int) -> np.ndarray:
    """Column j holds the series ``(j + 1) * lag`` hours earlier (NaN before it starts)."""
    n = len(series)
    out = np.full((n, width), np.nan)
    for j in range(1, count + 1):
        if n > j * lag:
            out[j * lag :, j - 1] = series[: n - j * lag]
    return out


def baseline(series: np.ndarray, weeks: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per hour: the seasonal median and the robust spread (NaN where history is too short)."""
    width = max(weeks, 7)
    weekly = _lagged(series, WEEK_H, weeks, width)
    daily = _lagged(series, DAY_H, 7, width)
    enough_weeks = np.sum(~np.isnan(weekly), axis=1) >= 2
    refs = np.where(enough_weeks[:, None], weekly, daily)
    usable = np.sum(~np.isnan(refs), axis=1) >= 3
    med = np.full(len(series), np.nan)
    mad = np.full(len(series), np.nan)
    if usable.any():
        r = refs[usable]
        m = np.nanmedian(r, axis=1)
        med[usable] = m
        mad[usable] = np.nanmedian(np.abs(r - m[:, None]), axis=1) * MAD_TO_SIGMA
    return med, mad


def detect(
    series: np.ndarray,
    *,
    k: float = 5.0,
    min_usd: float = 1.0,
    floor_share: float = 0.1,
    weeks: int = 4,
    from_hour: int = 0,
) -> list[Detection]:
    """Anomalous stretches of ``series`` (hourly spend) at or after ``from_hour``."""
    med, mad = baseline(series, weeks)
    spread = np.maximum(np.nan_to_num(mad), np.maximum(floor_share * np.nan_to_num(med), min_usd))
    excess = series - med
    score = np.where(np.isnan(med), 0.0, excess / spread)
    flagged = (score > k) & (excess >= min_usd)
    flagged[:from_hour] = False
    out: list[Detection] = []
    hour = 0
    n = len(series)
    while hour < n:
        if not flagged[hour]:
            hour += 1
            continue
        end = hour
        while end + 1 < n and flagged[end + 1]:
            end += 1
        window = slice(hour, end + 1)
        out.append(
            Detection(
                hour,
                end,
                float(series[window].sum()),
                float(med[window].sum()),
                float(score[window].max()),
            )
        )
        hour = end + 1
    return out


@dataclass(frozen=True)
class Contributor:
    run_id: str
    workload: str
    usd: float
    hours: float  # hours the run held capacity within the anomaly
    gpus: float
    accelerator: str | None
    pool: str
    sm_activity: float | None

    def describe(self) -> str:
        held = f"{self.gpus:g} {self.accelerator or 'GPU'}" if self.gpus > 0 else "CPU capacity"
        activity = f" at {self.sm_activity:.0%} SM activity" if self.sm_activity is not None else ""
        return (
            f"run {self.run_id} ({self.workload}) held {held}{activity} for "
            f"{self.hours:.1f} h on {self.pool}: ${self.usd:,.2f}"
        )


def contributors(
    pieces: HourlyPieces,
    lines: CostLines,
    usage: UsageColumns,
    mask: np.ndarray,
    sm_activity: Mapping[str, float],
    top: int = 3,
) -> list[Contributor]:
    """The runs that spent most among the pieces selected by ``mask``."""
    rows = lines.src[pieces.line[mask]]
    runs = usage.run_id.codes[rows]
    usd = np.bincount(runs, pieces.usd[mask], minlength=len(usage.run_id.values))
    held = np.bincount(runs, pieces.held_hours[mask], minlength=len(usage.run_id.values))
    # A run's hours are counted once per hour even when its attempt has several lines.
    out = []
    for code in np.argsort(-usd)[:top].tolist():
        if usd[code] <= 0:
            break
        row = int(rows[np.flatnonzero(runs == code)[0]])
        run_id = str(usage.run_id.values[code])
        out.append(
            Contributor(
                run_id=run_id,
                workload=str(usage.workload.values[usage.workload.codes[row]]),
                usd=float(usd[code]),
                hours=float(held[code]),
                gpus=float(usage.gpus[row]),
                accelerator=usage.accelerator.values[usage.accelerator.codes[row]],
                pool=str(usage.pool.values[usage.pool.codes[row]]),
                sm_activity=sm_activity.get(run_id),
            )
        )
    return out


@dataclass(frozen=True)
class Anomaly:
    dimension: str
    key: str | None
    start: float
    end: float
    spend_usd: float
    baseline_usd: float
    score: float
    contributors: tuple[Contributor, ...]

    @property
    def excess_usd(self) -> float:
        return self.spend_usd - self.baseline_usd

    def explain(self) -> str:
        hours = (self.end - self.start) / HOUR_S
        head = (
            f"{self.dimension} {self.key} spent ${self.spend_usd:,.2f} in {hours:.0f} h "
            f"against a usual ${self.baseline_usd:,.2f}"
        )
        if not self.contributors:
            return head
        return head + "; " + "; ".join(c.describe() for c in self.contributors)
