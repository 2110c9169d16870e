"""The retry budget: retries stay a bounded share of the traffic (as Finagle and Linkerd do).

Over the last ``window_s`` seconds, a retry is allowed while the retries, this one included,
are at most ``ratio`` x the first attempts plus ``min_per_s`` x ``window_s``. The floor lets a
quiet endpoint retry at all; the ratio stops retries from multiplying the load on a fleet that
is failing anyway (a retry storm). First attempts are the attempts started less the retries
granted: each retry the gateway makes is started like any request.
"""

from __future__ import annotations

from collections import deque


class RetryBudget:
    __slots__ = ("_attempts", "_min_per_s", "_ratio", "_retries", "_window_s")

    def __init__(self, ratio: float, min_per_s: float, window_s: float = 10.0) -> None:
        self._ratio = ratio
        self._min_per_s = min_per_s
        self._window_s = window_s
        self._attempts: deque[float] = deque()
        self._retries: deque[float] = deque()

    def attempt(self, now: float) -> None:
        self._expire(now)  # here too, so that the window stays bounded without retries
        self._attempts.append(now)

    def may_retry(self, now: float) -> bool:
        """Whether one more retry fits; a yes counts it."""
        self._expire(now)
        first = max(0, len(self._attempts) - len(self._retries))
        allowed = self._ratio * first + self._min_per_s * self._window_s
        if len(self._retries) + 1 > allowed:
            return False
        self._retries.append(now)
        return True

    def _expire(self, now: float) -> None:
        horizon = now - self._window_s
        for times in (self._attempts, self._retries):
            while times and times[0] <= horizon:
                times.popleft()
