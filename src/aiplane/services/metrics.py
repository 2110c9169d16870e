"""The control plane's own numbers for /metrics: queue, runs by state, cost so far.

Computed at scrape time from the runs and the metered usage, so there is no second copy of the
state to drift: the cost is the cost reports' (``costs.spend_by_pool``), not a price of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiplane.core.fleet import Fleet
from aiplane.core.runs import Run, RunState
from aiplane.services.costs import spend_by_pool
from aiplane.services.telemetry import TelemetryRecorder, TelemetrySnapshot
from aiplane.store.base import Store

# Buckets for how long runs waited to start, in seconds: a second to a day.
WAIT_BUCKETS_S: tuple[float, ...] = (
    1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400,
)  # fmt: skip


@dataclass(frozen=True)
class QueueStats:
    pending: int
    oldest_wait_s: float  # of the runs pending now; 0 when none
    # cumulative counts of started runs' waits per bucket bound, then the total and sum
    wait_buckets: tuple[tuple[float, int], ...]
    wait_count: int
    wait_sum_s: float


@dataclass(frozen=True)
class PlaneMetrics:
    runs_by_state: dict[RunState, int]
    queue: QueueStats
    # (site, pool key) -> USD since the first run, metered
    cost_usd: dict[tuple[str, str], float]


def queue_stats(runs: Iterable[Run], now: float) -> QueueStats:
    pending = 0
    oldest = 0.0
    waits: list[float] = []
    for run in runs:
        if run.state is RunState.PENDING:
            pending += 1
            # updated_at is when it (re-)entered the queue, created_at when it first did.
            oldest = max(oldest, now - run.updated_at)
        if run.started_at is not None:
            waits.append(max(0.0, run.started_at - run.created_at))
    buckets = tuple((bound, sum(1 for w in waits if w <= bound)) for bound in WAIT_BUCKETS_S)
    return QueueStats(pending, oldest, buckets, len(waits), sum(waits))


class MetricsService:
    """What ``/metrics`` serializes: the plane's numbers and the latest telemetry, both read at
    scrape time. ``fleet`` gives the fleet in force, which prices the open attempts."""

    def __init__(
        self,
        store: Store,
        telemetry: TelemetryRecorder,
        clock: Callable[[], float],
        fleet: Callable[[], Fleet | None],
    ) -> None:
        self._store = store
        self._telemetry = telemetry
        self._clock = clock
        self._fleet = fleet

    def plane(self) -> PlaneMetrics:
        now = self._clock()
        runs = self._store.jobs.runs_in_states(set(RunState))
        counts = Counter(run.state for run in runs)
        return PlaneMetrics(
            runs_by_state={state: counts.get(state, 0) for state in RunState},
            queue=queue_stats(runs, now),
            cost_usd=spend_by_pool(self._store, self._fleet(), now),
        )

    def telemetry(self) -> TelemetrySnapshot:
        return self._telemetry.snapshot()
