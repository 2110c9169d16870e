"""A small ticking thread that survives errors in its step and can be woken early."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("aiplane.workers")


class Loop:
    def __init__(
        self,
        name: str,
        interval_s: float,
        step: Callable[[], object],
        min_gap_s: float = 0.05,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        # Wakes that arrive faster than this are coalesced into one step: a burst of
        # submissions must not turn into a scheduling cycle per submission.
        self.min_gap_s = min(min_gap_s, interval_s)
        self._step = step
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"aiplane-{name}", daemon=True)
        self.ticks = 0
        self.errors = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Run the next step soon rather than at the next tick (e.g. after a submission)."""
        if not self._wake.is_set():
            self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # a loop must outlive one bad tick; the error is logged
                self.errors += 1
                log.exception("%s step failed", self.name)
            self.ticks += 1
            if self._stop.wait(self.min_gap_s):
                break
            self._wake.wait(max(0.0, self.interval_s - self.min_gap_s))
            self._wake.clear()
