"""Calendar periods in UTC: months and ISO weeks, as epoch seconds.

Billing periods are calendar months in UTC (as cloud invoices are); budgets may also run by ISO
week, which starts on Monday 00:00 UTC.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aiplane.core.budgets import Period

HOUR_S = 3600.0
DAY_S = 86400.0
WEEK_S = 7 * DAY_S
# 1970-01-01 was a Thursday: Monday 1969-12-29 00:00 UTC is 3 days earlier.
_MONDAY_EPOCH = -3 * DAY_S


def month_start(ts: float) -> float:
    month = np.datetime64(int(np.floor(ts)), "s").astype("datetime64[M]")
    return float(month.astype("datetime64[s]").astype(np.int64))


def next_month_start(ts: float) -> float:
    month = np.datetime64(int(np.floor(ts)), "s").astype("datetime64[M]") + 1
    return float(month.astype("datetime64[s]").astype(np.int64))


def week_start(ts: float) -> float:
    return ts - ((ts - _MONDAY_EPOCH) % WEEK_S)


def bounds(period: Period, now: float) -> tuple[float, float]:
    """The period containing ``now``: [start, end)."""
    if period is Period.WEEKLY:
        start = week_start(now)
        return start, start + WEEK_S
    return month_start(now), next_month_start(now)


def month_boundaries(start: float, end: float) -> npt.NDArray[np.float64]:
    """Every month start strictly inside (start, end), ascending."""
    if end <= start:
        return np.empty(0, dtype=np.float64)
    first = np.datetime64(int(np.floor(start)), "s").astype("datetime64[M]") + 1
    last = np.datetime64(int(np.ceil(end)), "s").astype("datetime64[M]")
    months = np.arange(first, last + 1, dtype="datetime64[M]")
    secs = months.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    return secs[(secs > start) & (secs < end)]


def month_index(ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Months since 1970-01 of each timestamp."""
    return (
        np.floor(ts)
        .astype(np.int64)
        .astype("datetime64[s]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def month_index_start(index: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    return index.astype("datetime64[M]").astype("datetime64[s]").astype(np.int64).astype(np.float64)


def iso(ts: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form FOCUS uses for date-times."""
    return str(np.datetime64(int(np.floor(ts)), "s")) + "Z"
