"""Trace jobs and the workloads the simulator submits for them.

A trace says how many GPUs a job used in total; a fleet says how many GPUs a node has. A job
that needs more than the largest node becomes a gang of replicas that split its GPUs evenly
(16 GPUs on 8-GPU nodes: 2 replicas of 8; 12 GPUs: 2 of 6). A job without a GPU type accepts
every accelerator type of the fleet whose nodes can hold one replica, each at the relative
speed given in :class:`ShapeOptions` (1.0 unless said otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aiplane.core.accelerators import canonical_name
from aiplane.core.fleet import Fleet
from aiplane.core.workloads import (
    PRIORITY_CLASSES,
    AcceleratorOption,
    Constraints,
    SpotPolicy,
    Workload,
    WorkloadKind,
)

_EPS = 1e-9
# One shared instance: trace jobs have no constraints, and sharing keeps caches small.
_NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True, slots=True)
class TraceJob:
    """One job of a trace, times in seconds from the start of the (filtered) trace."""

    id: str
    submit_s: float
    duration_s: float
    gpus: float
    team: str = "default"
    gpu_type: str | None = None
    priority: int = PRIORITY_CLASSES["normal"]
    status: str | None = None


@dataclass(frozen=True)
class ShapeOptions:
    """How trace jobs become workloads."""

    speeds: Mapping[str, float] = field(default_factory=dict)
    checkpoint_minutes: float | None = 30.0
    # Tell the scheduler each job's true duration (the SJF oracle); otherwise no estimate.
    oracle_estimates: bool = False
    spot: SpotPolicy = SpotPolicy.ALLOWED


@dataclass(frozen=True, slots=True)
class Shape:
    replicas: int
    per_replica: float
    options: tuple[AcceleratorOption, ...]

    @property
    def gpus(self) -> float:
        return self.replicas * self.per_replica


def split_gang(gpus: float, node_gpus: int) -> tuple[int, float]:
    """(replicas, GPUs per replica) for ``gpus`` on nodes of ``node_gpus``: the fewest
    replicas that split the job evenly into whole GPUs, rounding the share up when none
    does."""
    if gpus <= node_gpus + _EPS or node_gpus <= 0:
        return 1, gpus
    whole = round(gpus)
    lowest = math.ceil(gpus / node_gpus - _EPS)
    if abs(whole - gpus) < _EPS:
        # At most twice the fewest replicas: 13 GPUs become 2 x 7 (one GPU too many), not
        # 13 x 1, which would let a multi-node job scatter over single GPUs.
        for replicas in range(lowest, min(whole, 2 * lowest) + 1):
            if whole % replicas == 0 and whole // replicas <= node_gpus:
                return replicas, float(whole // replicas)
    return lowest, float(math.ceil(gpus / lowest - _EPS))


class Shaper:
    """Turns trace jobs into workloads for one fleet; drops jobs no pool could ever run."""

    def __init__(self, fleet: Fleet, options: ShapeOptions | None = None) -> None:
        self.fleet = fleet
        self.options = options or ShapeOptions()
        # Largest node and total capacity per accelerator type.
        self._node_gpus: dict[str, int] = {}
        self._pools: dict[str, list[tuple[int, int]]] = {}
        for pool in fleet.pools():
            accel = pool.node.accelerator
            if accel is None or pool.node.gpus <= 0:
                continue
            self._node_gpus[accel] = max(self._node_gpus.get(accel, 0), pool.node.gpus)
            self._pools.setdefault(accel, []).append((pool.node.gpus, pool.nodes_max))
        self._shapes: dict[tuple[float, str | None], Shape | None] = {}

    @property
    def accelerator_types(self) -> tuple[str, ...]:
        return tuple(self._node_gpus)

    def shape(self, gpus: float, gpu_type: str | None) -> Shape | None:
        key = (gpus, gpu_type)
        if key not in self._shapes:
            self._shapes[key] = self._compute(gpus, gpu_type)
        return self._shapes[key]

    def _compute(self, gpus: float, gpu_type: str | None) -> Shape | None:
        if gpu_type is not None:
            gpu_type = canonical_name(gpu_type) or gpu_type
        types = [gpu_type] if gpu_type is not None else list(self._node_gpus)
        types = [t for t in types if t in self._node_gpus]
        if not types or gpus <= 0:
            return None
        replicas, per = split_gang(gpus, max(self._node_gpus[t] for t in types))
        speeds = self.options.speeds
        options = tuple(
            AcceleratorOption(t, per, speeds.get(t, 1.0))
            for t in types
            if self._fits(t, per, replicas)
        )
        return Shape(replicas, per, options) if options else None

    def _fits(self, accel: str, per: float, replicas: int) -> bool:
        """Whether an empty fleet could hold the gang in one pool of this type."""
        for node_gpus, nodes in self._pools[accel]:
            if per <= node_gpus + _EPS and int(node_gpus / per + _EPS) * nodes >= replicas:
                return True
        return False

    def workload(self, job: TraceJob, shape: Shape) -> Workload:
        o = self.options
        return Workload(
            name=job.id,
            team=job.team,
            kind=WorkloadKind.TRAIN,
            run="trace replay",
            replicas=shape.replicas,
            accelerators=shape.options,
            # Traces carry no CPU or memory figures: schedule on GPUs alone.
            cpus=0.0,
            memory_gib=0.0,
            priority=job.priority,
            estimated_hours=job.duration_s / 3600 if o.oracle_estimates else None,
            checkpoint_minutes=o.checkpoint_minutes,
            spot=o.spot,
            constraints=_NO_CONSTRAINTS,
        )


@dataclass(frozen=True)
class Prepared:
    """Jobs ready to simulate, in submission order, and the ones left out with why."""

    jobs: tuple[TraceJob, ...]
    workloads: tuple[Workload, ...]
    shapes: tuple[Shape, ...]
    dropped: Mapping[str, str]


def prepare(jobs: Iterable[TraceJob], shaper: Shaper) -> Prepared:
    kept: list[TraceJob] = []
    workloads: list[Workload] = []
    shapes: list[Shape] = []
    dropped: dict[str, str] = {}
    for job in sorted(jobs, key=lambda j: (j.submit_s, j.id)):
        shape = shaper.shape(job.gpus, job.gpu_type)
        if shape is None:
            kind = job.gpu_type or "any type"
            dropped[job.id] = f"no pool can ever run {job.gpus:g} GPUs of {kind}"
            continue
        kept.append(job)
        shapes.append(shape)
        workloads.append(shaper.workload(job, shape))
    return Prepared(tuple(kept), tuple(workloads), tuple(shapes), dropped)


def total_gpu_seconds(jobs: Sequence[TraceJob]) -> float:
    return sum(j.gpus * j.duration_s for j in jobs)
