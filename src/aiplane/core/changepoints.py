"""Change points in a multivariate series: where its level shifts. Pure.

Seeded binary segmentation (Kovacs, Li, Buhlmann and Munk, 2020) on the summed squared error:
the best split of each seeded interval (prefix sums make each search linear), then splits taken
greedily by gain, each only inside one segment of those already taken. Unlike plain binary
segmentation it finds a short episode between two similar ones (busy, idle, busy), whose halves
look alike from the top level. A split must gain more than ``min_gain`` and more than a BIC-like
noise penalty (``noise_factor`` x log n x the summed noise variance), so a noisy but steady
series is not cut into pieces by chance.

Work is O(n log n); on long series the shortest interval grows to n/2048 samples, which still
finds every episode long enough to matter to callers that look at minutes, not samples.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from itertools import pairwise

Row = Sequence[float]


def _noise_variance(rows: Sequence[Row], d: int) -> float:
    """A robust per-sample variance of feature ``d``: from the median absolute difference of
    neighbours, which level shifts (the change points themselves) barely move."""
    diffs = sorted(abs(b[d] - a[d]) for a, b in pairwise(rows))
    if not diffs:
        return 0.0
    sigma = 1.4826 * diffs[len(diffs) // 2] / math.sqrt(2.0)
    return sigma * sigma


def _seeded_intervals(n: int, shortest: int) -> list[tuple[int, int]]:
    """The whole range, then halves, quarters, ... each level overlapping by half, down to
    ``shortest`` samples (seeded binary segmentation, Kovacs et al. 2020)."""
    found = {(0, n)}
    length = n / 2.0
    while length >= shortest:
        step = length / 2.0
        count = math.ceil((n - length) / step) + 1
        for m in range(count):
            i = round(m * step)
            found.add((i, min(n, round(m * step + length))))
        length /= 2.0
    return sorted(found)


def change_points(
    rows: Sequence[Row], *, min_gain: float, noise_factor: float = 3.0, min_size: int = 2
) -> list[int]:
    """Indices where a new segment starts (0 first); every segment has ``min_size`` rows or
    more. Features should share a scale (e.g. 0..1) since their squared errors are summed."""
    n = len(rows)
    if n == 0:
        return []
    noise = sum(_noise_variance(rows, d) for d in range(len(rows[0])))
    penalty = max(min_gain, noise_factor * math.log(n) * noise)
    cost = _segment_cost(rows)
    k_min = max(1, min_size)
    candidates: list[tuple[float, int, int, int]] = []
    for i, j in _seeded_intervals(n, max(2 * k_min, n // 2048)):
        if j - i < 2 * k_min:
            continue
        gain, k = _best_split(cost, i, j, k_min)
        if k > 0 and gain >= penalty:
            candidates.append((gain, k, i, j))
    return [0, *_nested_splits(candidates)]


def _segment_cost(rows: Sequence[Row]) -> Callable[[int, int], float]:
    """The squared error of rows ``[i, j)`` about their mean, in O(dims) from prefix sums."""
    n, dims = len(rows), len(rows[0])
    s1 = [[0.0] * (n + 1) for _ in range(dims)]
    s2 = [0.0] * (n + 1)
    for d in range(dims):
        a = s1[d]
        for i, row in enumerate(rows):
            a[i + 1] = a[i] + row[d]
    for i, row in enumerate(rows):
        s2[i + 1] = s2[i] + sum(x * x for x in row)

    def cost(i: int, j: int) -> float:
        m = j - i
        return s2[j] - s2[i] - sum((col[j] - col[i]) ** 2 for col in s1) / m

    return cost


def _best_split(cost: Callable[[int, int], float], i: int, j: int, k_min: int) -> tuple[float, int]:
    """The split of ``[i, j)`` that lowers the cost most, as (gain, k); k is -1 for none."""
    whole = cost(i, j)
    best_gain, best_k = 0.0, -1
    for k in range(i + k_min, j - k_min + 1):
        gain = whole - cost(i, k) - cost(k, j)
        if gain > best_gain:
            best_gain, best_k = gain, k
    return best_gain, best_k


def _nested_splits(candidates: list[tuple[float, int, int, int]]) -> list[int]:
    """The splits taken greedily, largest gain first, each only within one current segment."""
    taken: list[int] = []
    for _, k, i, j in sorted(candidates, reverse=True):
        # No split already taken strictly inside (i, j).
        pos = bisect.bisect_right(taken, i)
        if pos < len(taken) and taken[pos] < j:
            continue
        bisect.insort(taken, k)
    return taken
