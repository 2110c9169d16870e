"""Spend over time: cost lines spread over hour buckets, for series, anomalies and forecasts.

A line's cost is spread evenly over the time it covers, so a ten-hour run adds a tenth of its
cost to each hour; egress lands in the hour its attempt started.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiplane.core.cost.columns import Floats, Ints, UsageColumns
from aiplane.core.cost.metering import CostLines
from aiplane.core.cost.periods import HOUR_S


@dataclass(frozen=True)
class HourlyPieces:
    """Each line cut into hours: the line it came from, its hour (from ``start``), its cost,
    and the hours of capacity it covers within that hour."""

    start: float
    hours: int
    line: Ints
    hour: Ints
    usd: Floats
    held_hours: Floats


def hourly_pieces(lines: CostLines, start: float, hours: int) -> HourlyPieces:
    s = np.clip((lines.start - start) / HOUR_S, 0, hours)
    e = np.clip((lines.end - start) / HOUR_S, 0, hours)
    first = np.floor(s).astype(np.int64)
    last = np.maximum(np.ceil(e).astype(np.int64), first + 1)
    count = np.where(s < hours, last - first, 0)
    line = np.repeat(np.arange(len(s), dtype=np.int64), count)
    offset = np.arange(len(line), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    hour = first[line] + offset
    span = e - s
    overlap = np.minimum(e[line], hour + 1) - np.maximum(s[line], hour)
    share = np.where(span[line] > 0, overlap / np.where(span > 0, span, 1.0)[line], 1.0)
    usd = lines.effective_usd[line] * share
    return HourlyPieces(start, hours, line, hour, usd, np.where(span[line] > 0, overlap, 0.0))


def hourly_series(
    pieces: HourlyPieces, lines: CostLines, usage: UsageColumns, category: str
) -> tuple[list[str | None], np.ndarray]:
    """(keys, matrix): spend per key (rows) and hour (columns)."""
    cat = usage.category(category)
    codes = cat.codes[lines.src[pieces.line]]
    n = len(cat.values)
    flat = np.bincount(codes * pieces.hours + pieces.hour, pieces.usd, minlength=n * pieces.hours)
    return list(cat.values), flat.reshape(n, pieces.hours)


def daily_totals(series: np.ndarray) -> np.ndarray:
    """Hourly series (last axis) to whole days; a trailing partial day is dropped."""
    days = series.shape[-1] // 24
    out: np.ndarray = series[..., : days * 24].reshape(*series.shape[:-1], days, 24).sum(axis=-1)
    return out
