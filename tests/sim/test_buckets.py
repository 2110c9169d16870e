"""Resampling for plots: each interval's area split across the buckets it overlaps."""

from __future__ import annotations

import pytest

from aiplane.sim.buckets import bucket_means, utilisation

WEEK = 7 * 86400.0

# (case, times, busy GPUs, capacity, buckets, expected utilisation per bucket)
CASES = [
    # One interval over many buckets: a constant 0.4% load plots flat at 0.004 (it was 3.18
    # in one bucket, then zero, when a float floor put the rest of the interval in one bucket).
    ("one long interval", [0.0, WEEK], [0.4, 0.0], [100.0, 100.0], 800, [0.004] * 800),
    (
        "one long interval, odd start",
        [17.3, 17.3 + WEEK + 0.1, 17.3 + WEEK + 0.2],
        [0.4, 0.4, 0.0],
        [100.0, 100.0, 100.0],
        800,
        [0.004] * 800,
    ),
    (
        "whole interval in one of three buckets",
        [0.0, 3.0],
        [2.0, 0.0],
        [4.0, 4.0],
        3,
        [0.5, 0.5, 0.5],
    ),
    # Intervals shorter than a bucket: each bucket is their time-weighted share.
    (
        "short intervals",
        [0.0, 1.0, 2.0, 3.0, 4.0],
        [4.0, 0.0, 2.0, 4.0, 0.0],
        [4.0, 4.0, 4.0, 4.0, 4.0],
        2,
        [0.5, 0.75],
    ),
    # Capacity that changes inside a bucket: busy GPU-seconds over available GPU-seconds.
    ("capacity changes", [0.0, 1.0, 2.0], [2.0, 2.0, 0.0], [4.0, 2.0, 0.0], 1, [4.0 / 6.0]),
    ("capacity 0", [0.0, 5.0, 10.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 2, [0.0, 0.0]),
    ("capacity 0 for part", [0.0, 5.0, 10.0], [0.0, 2.0, 0.0], [0.0, 4.0, 0.0], 2, [0.0, 0.5]),
    ("empty", [], [], [], 4, []),
    ("one point", [3.0], [1.0], [2.0], 4, [0.5]),
]


@pytest.mark.parametrize(
    ("times", "busy", "capacity", "points", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_utilisation_per_bucket(
    times: list[float],
    busy: list[float],
    capacity: list[float],
    points: int,
    expected: list[float],
) -> None:
    centres, values = utilisation(times, busy, capacity, points)
    assert len(centres) == len(values) == len(expected)
    assert values == pytest.approx(expected)
    assert all(0.0 <= v <= 1.0 for v in values)


def test_bucket_means_spread_a_long_interval_evenly() -> None:
    _, values = bucket_means([0.0, 123456.7], [3.0, 0.0], points=800)
    assert values == pytest.approx([3.0] * 800)
