"""Jobs, runs and the run state machine.

A job is a submitted workload. A run is its execution on a backend. The transition table below
is the only way a run changes state: an illegal transition raises rather than overwrites, so a
late report from a backend can never resurrect a cancelled run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from aiplane.core.errors import IllegalTransitionError
from aiplane.core.workloads import Workload


class RunState(StrEnum):
    PENDING = "pending"
    ADMITTED = "admitted"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def holds_capacity(self) -> bool:
        """Admitted, starting and running runs hold their placement's capacity."""
        return self in ACTIVE


TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})
ACTIVE = frozenset({RunState.ADMITTED, RunState.STARTING, RunState.RUNNING})

TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.ADMITTED, RunState.CANCELLED, RunState.FAILED}),
    # admitted -> pending: the control plane died before launching anything; place it again.
    RunState.ADMITTED: frozenset(
        {RunState.STARTING, RunState.PENDING, RunState.FAILED, RunState.CANCELLED}
    ),
    RunState.STARTING: frozenset(
        {
            RunState.RUNNING,
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.PREEMPTED,
        }
    ),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.PREEMPTED}
    ),
    # preempted -> succeeded: every replica had exited 0 before the stop reached it.
    RunState.PREEMPTED: frozenset({RunState.PENDING, RunState.SUCCEEDED, RunState.CANCELLED}),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class ReplicaAssignment:
    replica: int
    node: str
    gpus: float
    gpu_indices: tuple[int, ...] = ()
    cpus: float = 0.0
    memory_gib: float = 0.0


@dataclass(frozen=True)
class Placement:
    """Where a run goes: one pool, one node per replica, and why (``explanation``)."""

    pool: str
    site: str
    backend: str
    accelerator: str | None
    assignments: tuple[ReplicaAssignment, ...]
    usd_per_hour: float
    emulated: bool
    explanation: Mapping[str, Any] = field(default_factory=dict)
    # Nodes of a rented pool started for this run and billed to it whole (decision 0039):
    # no other run is placed on them while it holds them.
    instances: tuple[str, ...] = ()

    def landed(self, nodes: Mapping[int, str]) -> Placement:
        """The placement with each replica on the node it landed on (``nodes`` by replica;
        replicas not named stay). A moved replica keeps its resources but not aiplane's GPU
        indices, which were chosen on another node: the engine that moved it picks its own."""
        moved = tuple(
            a
            if nodes.get(a.replica, a.node) == a.node
            else replace(a, node=nodes[a.replica], gpu_indices=())
            for a in self.assignments
        )
        return self if moved == self.assignments else replace(self, assignments=moved)


@dataclass(frozen=True)
class Job:
    id: str
    workload: Workload
    submitted_at: float
    submitted_by: str


@dataclass(frozen=True)
class Run:
    id: str
    job_id: str
    state: RunState
    created_at: float
    updated_at: float
    attempt: int = 1
    placement: Placement | None = None
    # Opaque, JSON-serialisable handles from the backend, one per replica: enough to find the
    # processes again after a restart of the control plane.
    handles: tuple[Mapping[str, Any], ...] = ()
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    # What earlier attempts left behind (folded in by ``core.scheduling.inputs.requeue``):
    # GPU-seconds of service received, and hours of work saved in checkpoints at speed 1.0.
    attained_gpu_s: float = 0.0
    checkpointed_hours: float = 0.0
    # When the current attempt last reported a checkpoint (None: not yet), and where the
    # latest checkpoint of any attempt is, so the next attempt can resume from it.
    last_checkpoint_at: float | None = None
    checkpoint_uri: str | None = None
    # When the checkpoint at ``checkpoint_uri`` was saved (kept across attempts, unlike
    # ``last_checkpoint_at``), so a launch can tell whether a file found later is newer.
    checkpoint_saved_at: float | None = None
    # The row revision, which only the store sets: it counts the writes of the run, and
    # ``update_run`` refuses a run whose revision is not the stored one (a stale read).
    revision: int = 0

    def placed(self) -> Placement:
        """The run's placement: admitted, starting and running runs always have one, so its
        absence is a broken invariant, not an input error."""
        if self.placement is None:
            raise ValueError(f"run {self.id} ({self.state}) has no placement")
        return self.placement

    def transition(self, to: RunState, at: float, reason: str | None = None) -> Run:
        if to not in TRANSITIONS[self.state]:
            raise IllegalTransitionError(
                f"run {self.id} cannot go from {self.state} to {to}"
                + (f" ({reason})" if reason else "")
            )
        changes: dict[str, Any] = {"state": to, "updated_at": at}
        if reason is not None:
            changes["reason"] = reason
        if to is RunState.RUNNING and self.started_at is None:
            changes["started_at"] = at
        if to.terminal:
            changes["finished_at"] = at
        if to is RunState.PENDING:
            # Back in the queue: the old placement and processes are gone, and ``started_at``
            # names the start of the current attempt (metering reads it per attempt).
            changes.update(
                placement=None,
                handles=(),
                attempt=self.attempt + 1,
                started_at=None,
                last_checkpoint_at=None,
            )
        return replace(self, **changes)
