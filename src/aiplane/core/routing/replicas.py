"""What the router knows of each replica: requests in flight, its breaker, its latency and the
throughput it showed, and the public snapshot of all that (for metrics and load reports)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiplane.core.routing.breaker import Breaker, BreakerState
from aiplane.core.routing.latency import DecayingQuantile
from aiplane.core.serving.endpoints import Role

# Throughput is known once this many successes' worth (decayed) have been seen.
_MIN_COMPLETIONS = 3.0


@dataclass(frozen=True)
class ReplicaState:
    """One replica as the router saw it. The counters only grow (until the replica is
    forgotten): a load report takes the difference of two snapshots, and the mean in flight
    over a window is the difference of ``in_flight_s`` over the window's length."""

    run_id: str
    site: str
    role: Role
    in_flight: int
    in_flight_s: float  # requests in flight integrated over time: request-seconds
    requests: int  # finished, successes and failures
    errors: int
    breaker: BreakerState
    consecutive_failures: int
    p95_ms: float | None  # of recent successes, decayed; None: none yet
    throughput_per_s: float | None  # successes per second while busy; None: not measured


class ReplicaStats:
    """The mutable side of :class:`ReplicaState`. Every event first brings the integrals and
    the decayed counts forward to its time (:meth:`advance`)."""

    __slots__ = (
        "_busy_s",
        "_completions",
        "_halflife_s",
        "_last",
        "breaker",
        "errors",
        "in_flight",
        "in_flight_s",
        "latency",
        "requests",
        "role",
        "run_id",
        "site",
    )

    def __init__(
        self, run_id: str, site: str, role: Role, breaker: Breaker, halflife_s: float
    ) -> None:
        self.run_id = run_id
        self.site = site
        self.role = role
        self.breaker = breaker
        self._halflife_s = halflife_s
        self.in_flight = 0
        self.in_flight_s = 0.0
        self.requests = 0
        self.errors = 0
        self.latency = DecayingQuantile(halflife_s)
        # Throughput as decayed successes over decayed busy seconds (time with at least one
        # request in flight): what the replica delivered when it had work, whatever the
        # concurrency, and not how much work it happened to be given.
        self._completions = 0.0
        self._busy_s = 0.0
        self._last: float | None = None

    def advance(self, now: float) -> None:
        # A time before the last event's (a caller's clocks disagree) moves nothing back.
        if self._last is None or now <= self._last:
            if self._last is None:
                self._last = now
            return
        elapsed = now - self._last
        self.in_flight_s += self.in_flight * elapsed
        decay = math.exp2(-elapsed / self._halflife_s)
        self._completions *= decay
        self._busy_s = self._busy_s * decay + (elapsed if self.in_flight > 0 else 0.0)
        self._last = now

    def succeeded(self, latency_ms: float, now: float) -> None:
        self._completions += 1.0
        self.latency.observe(latency_ms, now)

    def throughput_per_s(self) -> float | None:
        if self._completions < _MIN_COMPLETIONS or self._busy_s <= 0.0:
            return None
        return self._completions / self._busy_s

    def state(self, now: float) -> ReplicaState:
        return ReplicaState(
            run_id=self.run_id,
            site=self.site,
            role=self.role,
            in_flight=self.in_flight,
            in_flight_s=self.in_flight_s,
            requests=self.requests,
            errors=self.errors,
            breaker=self.breaker.state(now),
            consecutive_failures=self.breaker.consecutive_failures,
            p95_ms=self.latency.value(),
            throughput_per_s=self.throughput_per_s(),
        )
