from __future__ import annotations

from aiplane.core.changepoints import change_points


def test_a_short_episode_between_two_alike_is_found() -> None:
    # busy, squat (memory up, compute down), busy again: halves look alike from the top.
    rows = [(0.9, 0.2)] * 40 + [(0.0, 0.6)] * 6 + [(0.9, 0.2)] * 40
    assert change_points(rows, min_gain=0.2) == [0, 40, 46]


def test_one_odd_row_is_not_a_segment() -> None:
    rows = [(0.0, 0.0)] * 30 + [(0.5, 0.0)] + [(0.0, 0.0)] * 30
    assert change_points(rows, min_gain=0.2) == [0]


def test_empty_and_tiny_series() -> None:
    assert change_points([], min_gain=0.2) == []
    assert change_points([(1.0,)], min_gain=0.2) == [0]
