"""Virtual time: the simulator's clock, which only moves when the driver moves it."""

from __future__ import annotations

from aiplane.core.errors import AiplaneError


class VirtualClock:
    """Seconds of virtual time. Core code takes ``now`` as an argument; whoever drives it
    (the simulator, a benchmark) reads it from here, so a replay never waits for real time."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t < self._now:
            raise AiplaneError(f"virtual time cannot go back from {self._now} to {t}")
        self._now = t

    def advance_by(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)
