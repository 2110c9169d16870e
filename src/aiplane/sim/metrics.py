"""What a simulation measures: per-job records, cluster time series, and their summary.

Definitions (the report and the benchmarks quote these):

- JCT: finish minus submit. Queueing delay: first start minus submit.
- Makespan: last finish minus first submit.
- GPU utilisation: busy GPU-seconds over the GPU-seconds of nodes that were up, from the first
  submit to the last finish.
- Fragmentation: free GPUs on nodes whose free GPUs are fewer than the smallest replica of any
  waiting job that could use that pool, sampled at a fixed virtual interval.
- Cost: ``cost_usd`` prices the GPU-hours used at each pool's rate (by pricing model);
  ``capacity_cost_usd`` prices the node-hours that were up, idle or not (owned and reserved
  capacity costs the same whether used or not), which is what a capacity plan compares.
- Rework: GPU-hours of work lost to preemptions and spot interruptions (since the last
  checkpoint).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class JobRecord:
    id: str
    team: str
    gpus: float
    submit_s: float
    first_start_s: float | None = None
    finish_s: float | None = None
    run_s: float = 0.0  # wall time holding GPUs, all attempts
    preemptions: int = 0
    interruptions: int = 0
    rework_gpu_s: float = 0.0
    cost_usd: float = 0.0
    pool: str | None = None

    @property
    def jct_s(self) -> float | None:
        return None if self.finish_s is None else self.finish_s - self.submit_s

    @property
    def queue_s(self) -> float | None:
        return None if self.first_start_s is None else self.first_start_s - self.submit_s


class Series:
    """Cluster state as a step function, one point per change of virtual time."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.busy_gpus: list[float] = []
        self.up_gpus: list[float] = []
        self.pending: list[int] = []
        self.running: list[int] = []
        self.busy_gpu_s = 0.0
        self.up_gpu_s = 0.0

    def record(self, t: float, busy: float, up: float, pending: int, running: int) -> None:
        times = self.times
        if times:
            last = times[-1]
            dt = t - last
            self.busy_gpu_s += self.busy_gpus[-1] * dt
            self.up_gpu_s += self.up_gpus[-1] * dt
            if dt <= 0:
                self.busy_gpus[-1], self.up_gpus[-1] = busy, up
                self.pending[-1], self.running[-1] = pending, running
                return
        times.append(t)
        self.busy_gpus.append(busy)
        self.up_gpus.append(up)
        self.pending.append(pending)
        self.running.append(running)


@dataclass
class Counters:
    cycles: int = 0
    decisions: int = 0
    placements: int = 0
    preemptions: int = 0
    interruptions: int = 0
    provisions: int = 0
    releases: int = 0
    partial_gangs: int = 0
    violations: int = 0
    over_allocations: int = 0
    stale_decisions: int = 0  # about runs no longer pending or running
    policy_s: float = 0.0
    violation_examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.violation_examples) < 10:
            self.violation_examples.append(text)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass
class Summary:
    """The figures of one simulated policy; ``as_dict`` is its JSON form."""

    policy: str
    jobs: int
    finished: int
    avg_jct_s: float
    p50_jct_s: float
    p99_jct_s: float
    avg_queue_s: float
    p99_queue_s: float
    makespan_s: float
    gpu_utilization: float
    fragmentation: float
    cost_usd: float
    capacity_cost_usd: float
    cost_by_pricing: Mapping[str, float]
    violations: int
    partial_gangs: int
    preemptions: int
    interruptions: int
    rework_gpu_hours: float
    cycles: int
    wall_s: float
    policy_s: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "extra":
                continue
            if isinstance(value, float):
                value = round(value, 6)
            elif isinstance(value, Mapping):
                value = {k: round(v, 4) for k, v in value.items()}
            out[name] = value
        out.update(self.extra)
        return out


def summarise(
    policy: str,
    records: Sequence[JobRecord],
    series: Series,
    counters: Counters,
    *,
    cost_by_pricing: Mapping[str, float],
    capacity_cost_usd: float,
    fragmentation: float,
    wall_s: float,
    extra: Mapping[str, Any] | None = None,
) -> Summary:
    done = [r for r in records if r.finish_s is not None]
    jcts = sorted(r.finish_s - r.submit_s for r in done if r.finish_s is not None)
    queues = sorted(r.queue_s for r in records if r.queue_s is not None)
    first = min((r.submit_s for r in records), default=0.0)
    last = max((r.finish_s for r in done if r.finish_s is not None), default=first)
    return Summary(
        policy=policy,
        jobs=len(records),
        finished=len(done),
        avg_jct_s=_mean(jcts),
        p50_jct_s=percentile(jcts, 50),
        p99_jct_s=percentile(jcts, 99),
        avg_queue_s=_mean(queues),
        p99_queue_s=percentile(queues, 99),
        makespan_s=last - first,
        gpu_utilization=series.busy_gpu_s / series.up_gpu_s if series.up_gpu_s > 0 else 0.0,
        fragmentation=fragmentation,
        cost_usd=sum(cost_by_pricing.values()),
        capacity_cost_usd=capacity_cost_usd,
        cost_by_pricing=dict(cost_by_pricing),
        violations=counters.violations + counters.over_allocations,
        partial_gangs=counters.partial_gangs,
        preemptions=counters.preemptions,
        interruptions=counters.interruptions,
        rework_gpu_hours=sum(r.rework_gpu_s for r in records) / 3600,
        cycles=counters.cycles,
        wall_s=wall_s,
        policy_s=counters.policy_s,
        extra=dict(extra or {}),
    )
