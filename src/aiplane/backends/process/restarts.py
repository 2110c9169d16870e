"""A service replica's restarts: the back-off between them and the record ``poll`` reads.

The supervisor of a service (``supervise.py --restart``) starts the command again when it exits
by itself, before any cancel or drain reached the replica: after ``initial_s``, doubling up to
``max_s``, and from ``initial_s`` again once a run lasted ``reset_s``. Each exit it restarts
after is recorded in ``restarts.json`` (count, exit, when, the delay, whether it is waiting),
so that any control plane, a restarted one too, reports the replica as running and says why
it does not answer.

This module imports only the standard library: the supervisor starts per replica.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 30.0
    reset_s: float = 60.0

    def problems(self) -> list[str]:
        """What is wrong with these delays (each must be a finite number, the first above 0,
        none under the one before): [] when they can be used."""
        out = [
            f"{name} must be a finite number of seconds, not {value!r}"
            for name, value in self._named()
            if not math.isfinite(value) or value < 0
        ]
        if not out and self.initial_s <= 0:
            out.append(f"backoff_initial_s must be above 0, not {self.initial_s!r}")
        if not out and self.max_s < self.initial_s:
            out.append(
                f"backoff_max_s ({self.max_s!r}) must not be under "
                f"backoff_initial_s ({self.initial_s!r})"
            )
        return out

    def _named(self) -> tuple[tuple[str, float], ...]:
        return (
            ("backoff_initial_s", self.initial_s),
            ("backoff_max_s", self.max_s),
            ("backoff_reset_s", self.reset_s),
        )

    def argv(self) -> list[str]:
        """The supervisor's options that carry this back-off."""
        return [
            "--restart",
            *("--backoff-initial", repr(self.initial_s)),
            *("--backoff-max", repr(self.max_s)),
            *("--backoff-reset", repr(self.reset_s)),
        ]


class Delays:
    """The delay before each restart: doubling from ``initial_s`` to ``max_s``, back to
    ``initial_s`` after a run of ``reset_s`` or more."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self._next = backoff.initial_s

    def after_run(self, ran_s: float) -> float:
        """The delay before starting again a command that ran ``ran_s`` seconds."""
        if ran_s >= self.backoff.reset_s:
            self._next = self.backoff.initial_s
        delay = self._next
        self._next = min(delay * 2, self.backoff.max_s)
        return delay


def exit_words(exit_code: int, signum: int | None) -> str:
    """``"exit 1"``, ``"signal 9"``: how a restart names the exit it follows."""
    return f"signal {signum}" if signum is not None else f"exit {exit_code}"


def describe(record: Mapping[str, Any], now: float, pid: object) -> str:
    """The detail of a running service's report: waiting to start again, or running since a
    restart."""
    count = int(record.get("count", 0))
    after = exit_words(int(record.get("last_exit_code", 0)), record.get("last_signal"))
    if record.get("waiting"):
        left = max(0, math.ceil(float(record.get("next_start_at", now)) - now))
        return f"restarting in {left} s after {after} (restart {count})"
    times = "once" if count == 1 else f"{count} times"
    return f"pid {pid} (restarted {times}, last after {after})"
