"""The control plane's own numbers for /metrics: queue, runs by state, cost so far.

Computed from the runs at scrape time, so there is no second copy of the state to drift. The
cost here is an estimate (each run's placement price times the hours it ran); the cost engine's
metering replaces ``run_cost_usd`` when it lands, and nothing else here needs to change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiplane.core.runs import Run, RunState
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
    # (site, pool) -> USD since the first run
    cost_usd: dict[tuple[str, str], float]


def run_cost_usd(run: Run, now: float) -> float:
    """What ``run`` has cost: its placement's $/h times the hours from start to finish (or now).

    A run that never started cost nothing; one preempted and re-queued lost its placement, so
    its earlier attempt is not counted (metering, which records each attempt, fixes that)."""
    if run.placement is None or run.started_at is None:
        return 0.0
    end = run.finished_at if run.finished_at is not None else now
    return run.placement.usd_per_hour * max(0.0, end - run.started_at) / 3600.0


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


def plane_metrics(runs: Sequence[Run], now: float) -> PlaneMetrics:
    counts = Counter(run.state for run in runs)
    cost: dict[tuple[str, str], float] = {}
    for run in runs:
        usd = run_cost_usd(run, now)
        if run.placement is not None and usd:
            key = (run.placement.site, run.placement.pool)
            cost[key] = cost.get(key, 0.0) + usd
    return PlaneMetrics(
        runs_by_state={state: counts.get(state, 0) for state in RunState},
        queue=queue_stats(runs, now),
        cost_usd=cost,
    )


def collect(store: Store, now: float) -> PlaneMetrics:
    return plane_metrics(store.jobs.runs_in_states(set(RunState)), now)


class MetricsService:
    """What ``/metrics`` serializes: the plane's numbers and the latest telemetry, both read at
    scrape time."""

    def __init__(
        self, store: Store, telemetry: TelemetryRecorder, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._telemetry = telemetry
        self._clock = clock

    def plane(self) -> PlaneMetrics:
        return collect(self._store, self._clock())

    def telemetry(self) -> TelemetrySnapshot:
        return self._telemetry.snapshot()
