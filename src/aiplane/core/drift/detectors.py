"""Streaming change detectors on a metric series (issue 14, part 4). Pure: time is an argument.

A monitor feeds one value at a time (a window's prediction mean, an error rate, a feature's
statistic) with the time it belongs to; ``update(value, at)`` answers a :class:`Detection` when
the series' mean has moved, else ``None``. Both detectors restart after a detection, as
river's do, so one change gives one detection rather than a burst while the old level drains
out. Their whole state is a JSON-ready dict (``state()`` / ``from_state``): a monitor that
restarts resumes where it was. ``scan(values, times)`` replays a series.

- :class:`PageHinkley`: two-sided Page-Hinkley (Page 1954) with a forgetting factor ``alpha``
  on the cumulative deviations from the running mean, as river's ``PageHinkley``. Its change
  time is where the winning cumulative sum had its extremum (the last sample of the old level).
- :class:`Adwin`: ADWIN (Bifet and Gavalda 2007) over an exponential histogram: rows of at most
  ``max_buckets`` buckets of 1, 2, 4, ... samples, each bucket its sum and variance (and the
  time of its oldest sample, which gives the change time to a bucket's resolution). Every
  ``clock`` samples each split of the window between buckets is tested with the
  variance-based bound of the paper, the same test as river's ADWIN; the change time and the
  means are those of the most significant split.

``core/changepoints.py`` is the offline counterpart (segmentation of a finished series); these
answer online, sample by sample, with memory that does not grow with the stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import signal

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Detection:
    """A change found at ``at`` (the time of the sample that crossed the bound). ``change_at`` is
    the method's estimate of when the new level began (None where it has none); the means are
    the series' mean before and after that point, over the samples the detector held."""

    at: float
    change_at: float | None
    mean_before: float
    mean_after: float
    samples: int


def _finite(value: float) -> None:
    # A NaN would poison every later sum; the caller skips a window that has no value.
    if not math.isfinite(value):
        raise ValueError("change detectors take finite values (a missing window is skipped)")


class ChangeDetector(Protocol):
    def update(self, value: float, at: float) -> Detection | None: ...

    def state(self) -> State: ...


class PageHinkley:
    """Two-sided Page-Hinkley. ``delta`` is the magnitude of change tolerated, ``threshold`` the
    bound (lambda) on a cumulative sum's excursion, ``alpha`` the forgetting factor on the sums,
    ``min_samples`` the samples needed after a (re)start before it may detect."""

    kind = "page_hinkley"

    def __init__(
        self,
        *,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1.0 - 1e-4,
        min_samples: int = 30,
    ) -> None:
        if threshold <= 0 or not 0.0 < alpha <= 1.0 or min_samples < 1:
            raise ValueError("PageHinkley needs threshold > 0, 0 < alpha <= 1, min_samples >= 1")
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.min_samples = min_samples
        self._restart()

    def _restart(self) -> None:
        self.n = 0
        self.total = 0.0
        self.up = 0.0  # sum of (x - mean - delta), faded: grows when the level rises
        self.down = 0.0  # sum of (x - mean + delta), faded: falls when the level drops
        self.up_min = math.inf
        self.down_max = -math.inf
        # At each extremum: its time and the count and sum of samples up to it, so a detection
        # can say when the level changed and what it was before and after.
        self.up_at: tuple[float, int, float] = (0.0, 0, 0.0)
        self.down_at: tuple[float, int, float] = (0.0, 0, 0.0)

    def update(self, value: float, at: float) -> Detection | None:
        _finite(value)
        self.n += 1
        self.total += value
        dev = value - self.total / self.n
        self.up = self.alpha * self.up + dev - self.delta
        self.down = self.alpha * self.down + dev + self.delta
        if self.up < self.up_min:
            self.up_min = self.up
            self.up_at = (at, self.n, self.total)
        if self.down > self.down_max:
            self.down_max = self.down
            self.down_at = (at, self.n, self.total)
        if self.n < self.min_samples:
            return None
        rise = self.up - self.up_min
        fall = self.down_max - self.down
        if rise <= self.threshold and fall <= self.threshold:
            return None
        change_at, k, before = self.up_at if rise >= fall else self.down_at
        found = Detection(
            at=at,
            change_at=change_at,
            mean_before=before / k,
            mean_after=(self.total - before) / (self.n - k) if self.n > k else value,
            samples=self.n,
        )
        self._restart()
        return found

    def state(self) -> State:
        def finite(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {
            "kind": self.kind,
            "params": {
                "delta": self.delta,
                "threshold": self.threshold,
                "alpha": self.alpha,
                "min_samples": self.min_samples,
            },
            "n": self.n,
            "total": self.total,
            "up": self.up,
            "down": self.down,
            "up_min": finite(self.up_min),
            "down_max": finite(self.down_max),
            "up_at": list(self.up_at),
            "down_at": list(self.down_at),
        }

    @classmethod
    def from_state(cls, state: State) -> PageHinkley:
        ph = cls(**state["params"])
        ph.n = int(state["n"])
        ph.total = float(state["total"])
        ph.up = float(state["up"])
        ph.down = float(state["down"])
        ph.up_min = math.inf if state["up_min"] is None else float(state["up_min"])
        ph.down_max = -math.inf if state["down_max"] is None else float(state["down_max"])
        t, k, s = state["up_at"]
        ph.up_at = (float(t), int(k), float(s))
        t, k, s = state["down_at"]
        ph.down_at = (float(t), int(k), float(s))
        return ph

    def scan(
        self, values: Sequence[float] | npt.ArrayLike, times: npt.ArrayLike
    ) -> list[Detection]:
        """Replay a series, vectorised: the faded sums are a first-order linear filter
        (``lfilter``), the extrema running minima and maxima; a block is computed at once and
        redone from the sample after a detection. Gives what ``update`` gives sample by sample
        (up to rounding), and leaves the detector in the same state."""
        x = np.asarray(values, dtype=np.float64)
        t = np.asarray(times, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError("change detectors take finite values (a missing window is skipped)")
        found: list[Detection] = []
        i, n = 0, len(x)
        block = 4096
        while i < n:
            j = min(n, i + block)
            hit = self._scan_block(x[i:j], t[i:j])
            if hit is None:
                i = j
                continue
            k, detection = hit
            found.append(detection)
            i += k + 1
        return found

    def _scan_block(
        self, x: npt.NDArray[np.float64], t: npt.NDArray[np.float64]
    ) -> tuple[int, Detection] | None:
        """Advance over ``x``; stop at the first detection (its offset in the block)."""
        counts = self.n + np.arange(1, len(x) + 1, dtype=np.float64)
        totals = self.total + np.cumsum(x)
        dev = x - totals / counts
        a = np.array([1.0, -self.alpha])
        up = signal.lfilter([1.0], a, dev - self.delta, zi=[self.alpha * self.up])[0]
        down = signal.lfilter([1.0], a, dev + self.delta, zi=[self.alpha * self.down])[0]
        up_min = np.minimum(np.minimum.accumulate(up), self.up_min)
        down_max = np.maximum(np.maximum.accumulate(down), self.down_max)
        over = ((up - up_min) > self.threshold) | ((down_max - down) > self.threshold)
        over &= counts >= self.min_samples
        stop = int(np.argmax(over)) if over.any() else len(x)
        if stop < len(x):
            # Replay the crossing sample through ``update`` so both paths share one bookkeeping.
            self._advance(x[:stop], t[:stop], up[:stop], down[:stop], totals, counts)
            detection = self.update(float(x[stop]), float(t[stop]))
            if detection is None:  # rounding put it just under the bound: carry on from here
                return None if stop + 1 >= len(x) else self._offset(stop + 1, x, t)
            return stop, detection
        self._advance(x, t, up, down, totals, counts)
        return None

    def _offset(
        self, start: int, x: npt.NDArray[np.float64], t: npt.NDArray[np.float64]
    ) -> tuple[int, Detection] | None:
        hit = self._scan_block(x[start:], t[start:])
        return None if hit is None else (hit[0] + start, hit[1])

    def _advance(
        self,
        x: npt.NDArray[np.float64],
        t: npt.NDArray[np.float64],
        up: npt.NDArray[np.float64],
        down: npt.NDArray[np.float64],
        totals: npt.NDArray[np.float64],
        counts: npt.NDArray[np.float64],
    ) -> None:
        m = len(x)
        if m == 0:
            return
        lo = int(np.argmin(up))
        if up[lo] < self.up_min:
            self.up_min = float(up[lo])
            self.up_at = (float(t[lo]), int(counts[lo]), float(totals[lo]))
        hi = int(np.argmax(down))
        if down[hi] > self.down_max:
            self.down_max = float(down[hi])
            self.down_at = (float(t[hi]), int(counts[hi]), float(totals[hi]))
        self.n += m
        self.total = float(totals[m - 1])
        self.up = float(up[m - 1])
        self.down = float(down[m - 1])


class Adwin:
    """ADWIN over an exponential histogram. ``delta`` is the confidence of the cut test,
    ``clock`` how often (in samples) the window is tested, ``max_buckets`` the buckets per row
    before two are merged, ``min_window`` the samples each side of a cut must hold, and
    ``grace`` the window length before any test. Defaults are river's."""

    kind = "adwin"

    def __init__(
        self,
        *,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window: int = 5,
        grace: int = 10,
    ) -> None:
        if not 0.0 < delta < 1.0 or clock < 1 or max_buckets < 1 or min_window < 1:
            raise ValueError("Adwin needs 0 < delta < 1, clock, max_buckets, min_window >= 1")
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window = min_window
        self.grace = grace
        self._restart()

    def _restart(self) -> None:
        # rows[r] holds buckets of 2**r samples, oldest first: [sum, variance, first time].
        self.rows: list[list[list[float]]] = [[]]
        self.tick = 0  # the clock restarts with the window, as river's does
        self.width = 0
        self.total = 0.0
        self.variance = 0.0  # sum of squared deviations from the window's mean

    @property
    def mean(self) -> float:
        return self.total / self.width if self.width else 0.0

    def update(self, value: float, at: float) -> Detection | None:
        _finite(value)
        self.tick += 1
        if self.width > 0:
            d = value - self.total / self.width
            self.variance += self.width * d * d / (self.width + 1)
        self.width += 1
        self.total += value
        self.rows[0].append([value, 0.0, at])
        self._compress()
        # The bound's log(log(width)) needs two samples, whatever the grace period.
        if self.tick % self.clock != 0 or self.width <= max(self.grace, 1):
            return None
        return self._test(at)

    def _compress(self) -> None:
        r = 0
        while len(self.rows[r]) > self.max_buckets:
            if r + 1 == len(self.rows):
                self.rows.append([])
            (u1, v1, t1), (u2, v2, _) = self.rows[r][0], self.rows[r][1]
            size = float(1 << r)
            d = u1 / size - u2 / size
            self.rows[r + 1].append([u1 + u2, v1 + v2 + size * d * d / 2.0, t1])
            del self.rows[r][:2]
            r += 1

    def _test(self, at: float) -> Detection | None:
        """Test every split between buckets. A change is detected when any split's difference
        of means exceeds the bound (river's test, so the same samples detect); the split
        reported is the most significant one (largest difference over its bound): ADWIN itself
        would drop old buckets only until the test passes no more, which leaves much of the old
        level in the window and says little about when the change began."""
        flat: list[tuple[float, float, float]] = []
        for r in range(len(self.rows) - 1, -1, -1):
            size = float(1 << r)
            flat.extend((size, b[0], b[2]) for b in self.rows[r])
        log_term = math.log(2.0 * math.log(self.width) / self.delta)
        var_w = self.variance / self.width
        n0, u0 = 0.0, 0.0
        n1, u1 = float(self.width), self.total
        best, best_at = 1.0, -1
        best_means = (0.0, 0.0)
        for i in range(len(flat) - 1):
            size, u2, _ = flat[i]
            n0 += size
            n1 -= size
            u0 += u2
            u1 -= u2
            if n0 < self.min_window or n1 < self.min_window:
                continue
            m = 1.0 / (n0 - self.min_window + 1) + 1.0 / (n1 - self.min_window + 1)
            eps = math.sqrt(2.0 * m * var_w * log_term) + 2.0 / 3.0 * log_term * m
            ratio = abs(u0 / n0 - u1 / n1) / eps  # eps > 0: log_term, m > 0
            if ratio > best:
                best, best_at, best_means = ratio, i, (u0 / n0, u1 / n1)
        if best_at < 0:
            return None
        found = Detection(
            at=at,
            change_at=flat[best_at + 1][2],
            mean_before=best_means[0],
            mean_after=best_means[1],
            samples=self.width,
        )
        self._restart()
        return found

    def state(self) -> State:
        return {
            "kind": self.kind,
            "params": {
                "delta": self.delta,
                "clock": self.clock,
                "max_buckets": self.max_buckets,
                "min_window": self.min_window,
                "grace": self.grace,
            },
            "tick": self.tick,
            "width": self.width,
            "total": self.total,
            "variance": self.variance,
            "rows": [[list(b) for b in row] for row in self.rows],
        }

    @classmethod
    def from_state(cls, state: State) -> Adwin:
        ad = cls(**state["params"])
        ad.tick = int(state["tick"])
        ad.width = int(state["width"])
        ad.total = float(state["total"])
        ad.variance = float(state["variance"])
        ad.rows = [[[float(x) for x in b] for b in row] for row in state["rows"]] or [[]]
        return ad

    def scan(
        self, values: Sequence[float] | npt.ArrayLike, times: npt.ArrayLike
    ) -> list[Detection]:
        """Replay a series. Sample by sample: each test depends on the window the previous cut
        left, so there is nothing to vectorise across samples (a test is O(log n) buckets)."""
        x = np.asarray(values, dtype=np.float64).tolist()
        t = np.asarray(times, dtype=np.float64).tolist()
        return [d for v, at in zip(x, t, strict=True) if (d := self.update(v, at)) is not None]


def restore(state: State) -> PageHinkley | Adwin:
    """A detector from its saved state (the ``kind`` key says which)."""
    if state.get("kind") == PageHinkley.kind:
        return PageHinkley.from_state(state)
    if state.get("kind") == Adwin.kind:
        return Adwin.from_state(state)
    raise ValueError(f"unknown detector kind: {state.get('kind')!r}")


def scan(
    detector: PageHinkley | Adwin, values: npt.ArrayLike, times: npt.ArrayLike | None = None
) -> list[Detection]:
    """Replay ``values`` (times default to the sample index) through ``detector``."""
    x = np.asarray(values, dtype=np.float64)
    t = np.arange(len(x), dtype=np.float64) if times is None else np.asarray(times, np.float64)
    if t.shape != x.shape:
        raise ValueError("values and times must have the same length")
    return detector.scan(x, t)
