"""A latency quantile that forgets: the p95 of recent requests, older ones weighing less.

Each observation goes into a log-spaced bucket (10% wide) with a weight that halves every
``halflife_s``. The weights use forward decay (Cormode, Shkapenyuk, Srivastava and Xu, 2009):
an observation at ``t`` weighs ``2 ** ((t - landmark) / halflife)``, so old ones need no update
when a new one comes, and the quantile, which depends only on the weights' ratios, stays the
same until the next observation (it is cached). Each bucket also keeps the weighted sum of its
values, so the answer is the mean of the values in the quantile's bucket, not the bucket's edge:
a steady 40 ms reads 40 ms.
"""

from __future__ import annotations

import math

# Buckets 10% wide: the quantile is off by at most that much when values in a bucket differ.
_LOG_WIDTH = math.log(1.1)
# Past this many half-lives from the landmark the weights are rescaled, well before a float
# overflows (2 ** 1024).
_RESCALE_AFTER = 256.0
_NEGLIGIBLE = 1e-9


class DecayingQuantile:
    """The ``q`` quantile of values observed so far, each weighted by its age."""

    __slots__ = ("_buckets", "_cached", "_halflife_s", "_landmark", "_q", "_total")

    def __init__(self, halflife_s: float, q: float = 0.95) -> None:
        self._halflife_s = halflife_s
        self._q = q
        self._landmark: float | None = None
        # bucket index -> [weight, weighted sum of values]
        self._buckets: dict[int, list[float]] = {}
        self._total = 0.0
        self._cached: float | None = None

    def observe(self, value: float, now: float) -> None:
        if self._landmark is None:
            self._landmark = now
        age = (now - self._landmark) / self._halflife_s
        if age > _RESCALE_AFTER:
            self._rescale(now, age)
            age = 0.0
        weight = math.exp2(age)
        index = _bucket(value)
        entry = self._buckets.get(index)
        if entry is None:
            self._buckets[index] = [weight, weight * value]
        else:
            entry[0] += weight
            entry[1] += weight * value
        self._total += weight
        self._cached = None

    def weight(self, now: float) -> float:
        """How many observations' worth the estimate holds at ``now``: each counts one when
        fresh, half after one half-life."""
        if self._landmark is None:
            return 0.0
        return self._total * math.exp2(-(now - self._landmark) / self._halflife_s)

    def value(self) -> float | None:
        """The quantile; None before the first observation."""
        if self._cached is None and self._buckets:
            self._cached = self._compute()
        return self._cached

    def _compute(self) -> float:
        rank = self._q * self._total
        seen = 0.0
        entry: list[float] = [0.0, 0.0]
        for index in sorted(self._buckets):
            entry = self._buckets[index]
            seen += entry[0]
            if seen >= rank:
                break
        return entry[1] / entry[0]

    def _rescale(self, now: float, age: float) -> None:
        factor = math.exp2(-age)
        for index, entry in list(self._buckets.items()):
            entry[0] *= factor
            entry[1] *= factor
            # Under a billionth of one fresh observation: gone (and no bucket of weight 0).
            if entry[0] < _NEGLIGIBLE:
                del self._buckets[index]
        self._total = sum(entry[0] for entry in self._buckets.values())
        self._landmark = now


def _bucket(value: float) -> int:
    # Values under 0.01 ms (and zero or negative ones, which a clock step could give) share
    # the lowest bucket.
    return math.floor(math.log(max(value, 0.01)) / _LOG_WIDTH)
