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
from collections.abc import Sequence
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
    dims = len(rows[0])
    noise = sum(_noise_variance(rows, d) for d in range(dims))
    penalty = max(min_gain, noise_factor * math.log(n) * noise)
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

    k_min = max(1, min_size)
    candidates: list[tuple[float, int, int, int]] = []
    for i, j in _seeded_intervals(n, max(2 * k_min, n // 2048)):
        if j - i < 2 * k_min:
            continue
        whole = cost(i, j)
        best_gain, best_k = 0.0, -1
        for k in range(i + k_min, j - k_min + 1):
            gain = whole - cost(i, k) - cost(k, j)
            if gain > best_gain:
                best_gain, best_k = gain, k
        if best_k > 0 and best_gain >= penalty:
            candidates.append((best_gain, best_k, i, j))
    taken: list[int] = []
    for _, k, i, j in sorted(candidates, reverse=True):
        # Only within one current segment: no split already taken strictly inside (i, j).
        pos = bisect.bisect_right(taken, i)
        if pos < len(taken) and taken[pos] < j:
            continue
        bisect.insort(taken, k)
    return [0, *taken]
