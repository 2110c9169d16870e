"""Resampling a step series into equal time buckets, for plots.

A replay records hundreds of thousands of points; a plot needs a few hundred. Each interval
between two points is split across every bucket it overlaps, in proportion to the overlap,
so a long interval spreads over its buckets instead of landing whole in one (which plotted
a 0.4% load as 3.18 and then zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_POINTS = 800


def _integrals(
    times: Sequence[float], values: Sequence[float], points: int
) -> tuple[list[float], list[float], float]:
    """Per bucket, the integral of the step function ``values`` (each value holds from its
    time to the next); also the bucket centres and width."""
    start, end = times[0], times[-1]
    width = (end - start) / points or 1.0
    sums = [0.0] * points
    for i in range(len(times) - 1):
        t0, t1, v = times[i], times[i + 1], values[i]
        if t1 <= t0 or v == 0:
            continue
        first = min(max(math.floor((t0 - start) / width), 0), points - 1)
        last = min(max(math.floor((t1 - start) / width), 0), points - 1)
        for b in range(first, last + 1):
            # Overlap with the bucket's own edges: a floor off by one at a boundary costs
            # a rounding error's worth of area, never the rest of the interval.
            lo = start + b * width
            hi = end if b == points - 1 else start + (b + 1) * width
            overlap = min(t1, hi) - max(t0, lo)
            if overlap > 0:
                sums[b] += v * overlap
    centres = [start + (b + 0.5) * width for b in range(points)]
    return centres, sums, width


def bucket_means(
    times: Sequence[float], values: Sequence[float], points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """Time-weighted means of a step series over ``points`` equal buckets."""
    if len(times) < 2:
        return list(times), list(values)
    centres, sums, width = _integrals(times, values, points)
    return centres, [s / width for s in sums]


def utilisation(
    times: Sequence[float],
    busy: Sequence[float],
    capacity: Sequence[float],
    points: int = MAX_POINTS,
) -> tuple[list[float], list[float]]:
    """Per bucket, busy GPU-seconds over available GPU-seconds (bucket length times
    capacity, integrated where capacity changes); 0 where no capacity was up. Within [0, 1]
    whenever busy never exceeds capacity."""
    if len(times) < 2:
        return list(times), [b / c if c > 0 else 0.0 for b, c in zip(busy, capacity, strict=True)]
    centres, used, _ = _integrals(times, busy, points)
    _, available, _ = _integrals(times, capacity, points)
    return centres, [u / a if a > 0 else 0.0 for u, a in zip(used, available, strict=True)]
