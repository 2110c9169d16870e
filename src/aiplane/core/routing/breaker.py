"""A circuit breaker per replica: stop sending to one that keeps failing, then try it again.

Closed: requests flow, consecutive failures are counted. ``failures`` of them in a row open
it for ``open_s``; then it is half-open: one trial request may go, and its answer decides
(success closes it, failure opens it again for another ``open_s``).
"""

from __future__ import annotations

from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    __slots__ = ("_failures", "_open_s", "_open_until", "_trial", "consecutive_failures")

    def __init__(self, failures: int, open_s: float) -> None:
        self._failures = failures
        self._open_s = open_s
        self.consecutive_failures = 0
        self._open_until: float | None = None  # None: closed
        self._trial = False  # half-open, and the trial request is in flight

    def state(self, now: float) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < self._open_until else BreakerState.HALF_OPEN

    def allows(self, now: float) -> bool:
        """Whether a request may go to the replica now."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._trial

    def started(self, now: float) -> None:
        if self.state(now) is BreakerState.HALF_OPEN:
            self._trial = True

    def finished(self, ok: bool, now: float) -> None:
        state = self.state(now)
        if ok:
            self.consecutive_failures = 0
            # A success while open is a request sent before it opened: it proves little,
            # and the open period runs its course.
            if state is not BreakerState.OPEN:
                self._open_until = None
                self._trial = False
            return
        self.consecutive_failures += 1
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and self.consecutive_failures >= self._failures
        ):
            self._open_until = now + self._open_s
            self._trial = False
