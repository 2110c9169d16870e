"""What the gateway tells the control plane each period: per replica, the load it saw
(autoscaling reads it); per key and UTC hour, the requests and tokens it served (cost per
request and quotas read them). Both are kept here between reports and handed over as deltas."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aiplane.core.serving.routes import ReplicaLoad, RequestCount

# Latencies kept per replica and window for its p95: enough for a close figure, bounded.
MAX_SAMPLES = 4096


@dataclass
class _Window:
    endpoint: str
    started: float
    in_flight: int = 0
    changed: float = 0.0
    # In-flight requests integrated over time since ``started``: the mean is this / window.
    area: float = 0.0
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def move(self, now: float, delta: int) -> None:
        self.area += self.in_flight * max(0.0, now - self.changed)
        self.changed = now
        self.in_flight += delta


def p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


class Loads:
    """Per replica: time-weighted in-flight, requests, errors and p95 since the last report."""

    def __init__(self, now: float) -> None:
        self._since = now
        self._windows: dict[str, _Window] = {}

    def _window(self, run_id: str, endpoint: str, now: float) -> _Window:
        window = self._windows.get(run_id)
        if window is None:
            window = _Window(endpoint=endpoint, started=self._since, changed=now)
            self._windows[run_id] = window
        return window

    def started(self, run_id: str, endpoint: str, now: float) -> None:
        self._window(run_id, endpoint, now).move(now, +1)

    def finished(self, run_id: str, endpoint: str, ok: bool, latency_ms: float, now: float) -> None:
        window = self._window(run_id, endpoint, now)
        window.move(now, -1)
        window.requests += 1
        if not ok:
            window.errors += 1
        if len(window.latencies) < MAX_SAMPLES:
            window.latencies.append(latency_ms)

    def take(self, now: float, replicas: Mapping[str, str]) -> list[ReplicaLoad]:
        """The loads since the last call, for every replica in ``replicas`` (run id ->
        endpoint: an idle replica reports zero, which is what lets it scale down) and any
        other that served; a new window starts at ``now``."""
        window_s = max(now - self._since, 1e-9)
        loads: list[ReplicaLoad] = []
        kept: dict[str, _Window] = {}
        for run_id in {*replicas, *self._windows}:
            window = self._windows.get(run_id)
            if window is None:
                window = _Window(endpoint=replicas[run_id], started=self._since, changed=now)
            window.move(now, 0)
            loads.append(
                ReplicaLoad(
                    endpoint=window.endpoint,
                    run_id=run_id,
                    at=now,
                    window_s=window_s,
                    in_flight=window.area / window_s,
                    requests=window.requests,
                    errors=window.errors,
                    p95_ms=p95(window.latencies),
                )
            )
            # A request in flight across the boundary belongs to the next window too.
            if window.in_flight > 0:
                kept[run_id] = _Window(
                    endpoint=window.endpoint, started=now, in_flight=window.in_flight, changed=now
                )
        self._since = now
        self._windows = kept
        return loads


CountKey = tuple[str, str, str, str | None, float]


class Counts:
    """Requests, errors and tokens per (endpoint, team, principal, token, UTC hour)."""

    def __init__(self) -> None:
        self._counts: dict[CountKey, list[int]] = {}

    def add(
        self,
        key: CountKey,
        requests: int = 1,
        errors: int = 0,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        row = self._counts.setdefault(key, [0, 0, 0, 0])
        row[0] += requests
        row[1] += errors
        row[2] += tokens_in
        row[3] += tokens_out

    def take(self) -> list[RequestCount]:
        counts, self._counts = self._counts, {}
        return [
            RequestCount(endpoint, team, principal, token_id, hour, *row)
            for (endpoint, team, principal, token_id, hour), row in counts.items()
        ]

    def restore(self, counts: Iterable[RequestCount]) -> None:
        """Put back counts whose report failed, so the next report carries them."""
        for c in counts:
            key = (c.endpoint, c.team, c.principal, c.token_id, c.hour)
            self.add(key, c.requests, c.errors, c.tokens_in, c.tokens_out)


def hour_of(at: float) -> float:
    return float(math.floor(at / 3600.0) * 3600)
