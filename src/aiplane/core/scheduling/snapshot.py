"""The immutable view of the world that one scheduling cycle works on.

The live control plane builds it from the store; the simulator builds it from its virtual
state. The policy reads it and returns decisions; it never mutates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiplane.core.budgets import BudgetAction
from aiplane.core.fleet import Fleet
from aiplane.core.resources import Resources
from aiplane.core.runs import Placement
from aiplane.core.scheduling.reclaim import DEFAULT_MIN_RUNTIME_S, Reclaimed
from aiplane.core.workloads import Workload


@dataclass(frozen=True)
class NodeState:
    id: str
    pool: str
    free: Resources
    free_gpu_indices: tuple[int, ...]  # GPUs nothing runs on
    # False for an elastic pool's headroom: placing work there means provisioning the node.
    up: bool = True
    # GPUs partly taken by fractional shares or MIG slices: (index, share still free).
    shared_gpus: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class PendingRun:
    run_id: str
    job_id: str
    workload: Workload
    submitted_at: float
    attempt: int = 1
    # GPU-seconds of service the job already received (earlier attempts): least-attained-
    # service ordering and preemption cost use it.
    attained_gpu_s: float = 0.0
    # Hours of work already saved in checkpoints: the remaining estimate is shorter.
    checkpointed_hours: float = 0.0
    # Its last preemption to give borrowed quota back, if it had one (``reclaim``).
    reclaimed: Reclaimed | None = None


@dataclass(frozen=True)
class RunningRun:
    run_id: str
    job_id: str
    workload: Workload
    placement: Placement
    submitted_at: float
    started_at: float
    # When the run last saved a checkpoint; None means never (all work since start is at risk).
    last_checkpoint_at: float | None = None
    attained_gpu_s: float = 0.0
    # Hours of work saved by earlier attempts: this attempt only has the rest to do.
    checkpointed_hours: float = 0.0
    attempt: int = 1

    @property
    def gpus(self) -> float:
        return sum(a.gpus for a in self.placement.assignments)


@dataclass(frozen=True)
class SchedulerSettings:
    ordering: str = "las"  # "las" (least attained GPU-service) or "fifo", inside a priority class
    starvation_age_s: float = 3600.0  # waiting longer than this moves a run to the front
    backfill: bool = True
    preemption: bool = True
    max_reservations: int = 1  # EASY backfill: the first blocked gang gets a reservation
    # An hour of a workload's runtime is worth this many dollars when offers of different
    # speed are compared; None: the hourly price of its cheapest feasible offer.
    time_value_usd_per_hour: float | None = None
    seed: int = 0
    # A run preempted to give borrowed quota back to its lender does not borrow that
    # accelerator type again for this long: otherwise it is re-admitted whenever the lender's
    # demand dips and reclaimed at its next job, over and over (``reclaim``, decision 0033).
    # 0 turns the hold off.
    reclaim_min_runtime_s: float = DEFAULT_MIN_RUNTIME_S

    def __post_init__(self) -> None:
        if not 0 <= self.reclaim_min_runtime_s < float("inf"):
            raise ValueError(
                f"reclaim_min_runtime_s: {self.reclaim_min_runtime_s!r} is not allowed; "
                "give a finite number of seconds >= 0"
            )


@dataclass(frozen=True)
class Snapshot:
    fleet: Fleet
    nodes: tuple[NodeState, ...]
    pending: tuple[PendingRun, ...]
    now: float
    running: tuple[RunningRun, ...] = ()
    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    budget_actions: Mapping[str, frozenset[BudgetAction]] = field(default_factory=dict)
    budget_remaining_usd: Mapping[str, float] = field(default_factory=dict)
    reserved_remaining_gpu_hours: Mapping[str, float] = field(default_factory=dict)
