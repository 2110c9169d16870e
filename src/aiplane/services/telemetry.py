"""Sampling GPU and host telemetry, attributing it to runs, keeping what /metrics and cost need.

One ``TelemetryRecorder.step`` per tick (1 Hz by default): sample the source, find the active
runs' GPUs and processes, attribute, and fold the tick into per-run aggregates. Everything is
kept in memory: the latest samples (for /metrics) and per-run ``RunUsage`` (GPU-seconds, average
SM activity, energy) for the cost engine. A restart loses the aggregates of runs in progress;
persisting them is left to the metering work, which owns usage records.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiplane.backends.base import Backends, ProcessIds
from aiplane.core.errors import BackendError
from aiplane.core.runs import Run, RunState
from aiplane.store.base import Store
from aiplane.telemetry.attribution import RunAllocation, RunUsage, accumulate, attribute
from aiplane.telemetry.base import GpuInfo, GpuSample, HostMetrics, HostSample, TelemetrySource

# Runs whose processes may be on a GPU: starting ones have begun loading already.
_SAMPLED_STATES = frozenset({RunState.STARTING, RunState.RUNNING})


@dataclass(frozen=True)
class TelemetrySnapshot:
    """What the recorder knows now, consistent as of one tick."""

    source: str | None
    gpus: tuple[GpuInfo, ...]
    samples: tuple[GpuSample, ...]
    host: HostSample | None
    # gpu index -> run ids holding or using that GPU at the last tick
    gpu_runs: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    usage: Mapping[str, RunUsage] = field(default_factory=dict)
    ticks: int = 0
    last_t: float | None = None


def allocations(
    runs: list[Run], backends: Backends, *, include_emulated: bool
) -> list[RunAllocation]:
    """Each run's declared GPUs and, where its backend can name them, its live pids.

    Emulated runs' GPUs are declared, not this machine's: they are matched to sampled GPUs
    only when the samples are emulated too (a replayed recording standing in for them).
    """
    out = []
    for run in runs:
        placement = run.placement
        if placement is None or (placement.emulated and not include_emulated):
            continue
        pids: frozenset[int] = frozenset()
        if not placement.emulated:
            try:
                backend = backends.for_placement(placement)
            except BackendError:
                backend = None  # no pids to find; its declared GPUs still count
            if isinstance(backend, ProcessIds):
                for handle in run.handles:
                    pids |= backend.pids(handle)
        indices = frozenset(i for a in placement.assignments for i in a.gpu_indices)
        out.append(RunAllocation(run.id, run.job_id, indices, pids))
    return out


class TelemetryRecorder:
    def __init__(
        self,
        source: TelemetrySource | None,
        store: Store,
        backends: Backends,
        *,
        host: HostMetrics | None = None,
        emulated_samples: bool = False,
        max_tick_s: float = 5.0,
        max_runs: int = 10_000,
    ) -> None:
        self.source = source
        self.store = store
        self.backends = backends
        self.host = host
        self.emulated_samples = emulated_samples
        # A tick stands for the time since the previous one, capped: after a stall (a
        # suspended laptop, a debugger) the gap must not be booked as hours of use.
        self.max_tick_s = max_tick_s
        # Aggregates of finished runs stay for the cost engine to read, up to this many.
        self.max_runs = max_runs
        self._gpus = tuple(source.static()) if source is not None else ()
        self._lock = threading.Lock()
        self._snapshot = TelemetrySnapshot(source.name if source else None, self._gpus, (), None)

    def step(self, now: float) -> TelemetrySnapshot:
        previous = self._snapshot
        samples = tuple(self.source.sample(now)) if self.source is not None else ()
        runs = self.store.jobs.runs_in_states(_SAMPLED_STATES)
        allocs = allocations(runs, self.backends, include_emulated=self.emulated_samples)
        host = None
        if self.host is not None:
            host = self.host.host_sample(now, pids=frozenset().union(*(a.pids for a in allocs)))
        found = attribute(samples, allocs)
        dt = (
            0.0
            if previous.last_t is None
            else min(max(0.0, now - previous.last_t), self.max_tick_s)
        )
        gpu_runs: dict[int, list[str]] = {}
        for a in found:
            gpu_runs.setdefault(a.sample.index, []).append(a.run_id)
        usage = accumulate(previous.usage, found, dt)
        if len(usage) > self.max_runs:
            newest = sorted(usage.values(), key=lambda u: u.last_t)[-self.max_runs :]
            usage = {u.run_id: u for u in newest}
        snapshot = TelemetrySnapshot(
            source=previous.source,
            gpus=self._gpus,
            samples=samples,
            host=host,
            gpu_runs={k: tuple(v) for k, v in gpu_runs.items()},
            usage=usage,
            ticks=previous.ticks + 1,
            last_t=now,
        )
        with self._lock:
            self._snapshot = snapshot
        return snapshot

    def snapshot(self) -> TelemetrySnapshot:
        with self._lock:
            return self._snapshot

    def usage(self, run_id: str) -> RunUsage | None:
        return self.snapshot().usage.get(run_id)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
