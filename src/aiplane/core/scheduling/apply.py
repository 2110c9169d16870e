"""Checking and ordering a policy's decisions: one rule for the live applier and the simulator.

A policy is trusted to be right, not assumed to be: every Place is checked against the run's
workload and the node table before anything is allocated, and what fails is refused and
counted, never applied. The checks are the invariants a correct policy keeps (a gang is placed
whole, only where the workload's constraints allow, on capacity that is free), so a correct
policy leaves every count at zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from aiplane.core.fleet import Fleet
from aiplane.core.placement import evaluate_offers
from aiplane.core.runs import Placement
from aiplane.core.scheduling.decisions import Decision, Place, Preempt
from aiplane.core.scheduling.inputs import option_for
from aiplane.core.scheduling.nodes import NodeTable
from aiplane.core.workloads import AcceleratorOption, Workload

_EPS = 1e-9


class Refusal(StrEnum):
    STALE = "stale"  # the run is gone or no longer in a state the decision applies to
    PARTIAL_GANG = "partial_gang"  # fewer (or more) assignments than the workload's replicas
    VIOLATION = "violation"  # a pool or accelerator the workload's constraints forbid
    OVER_ALLOCATION = "over_allocation"  # more than a node has free, or a replica short


@dataclass(frozen=True)
class Refused:
    run_id: str
    refusal: Refusal
    detail: str

    def __str__(self) -> str:
        return f"{self.run_id}: {self.refusal}: {self.detail}"


def ordered(decisions: Iterable[Decision]) -> list[Decision]:
    """Preemptions first, since they free the capacity placements use; then the rest in the
    policy's order (placements, waits, provisions, releases)."""
    decisions = list(decisions)
    first = [d for d in decisions if isinstance(d, Preempt)]
    return first + [d for d in decisions if not isinstance(d, Preempt)]


def _allowed_key(workload: Workload) -> tuple[object, ...]:
    """Workloads with equal keys may use the same (pool, option) pairs: what screening reads
    (``placement_signature``, replica shape included), and the hourly price limit, which the
    gang's size and the limit decide."""
    return workload.placement_signature, workload.replicas, workload.constraints.max_usd_per_hour


class PlaceCheck:
    """Checks placements for one fleet; the pools a workload may use are memoised per
    :func:`_allowed_key` (everything ``evaluate_offers`` reads that is not a duration)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._allowed: dict[tuple[object, ...], frozenset[tuple[str, str | None]]] = {}

    def option(self, workload: Workload, placement: Placement) -> AcceleratorOption | None:
        """The workload's option that ``placement`` uses if its pool is allowed, else None."""
        key = _allowed_key(workload)
        allowed = self._allowed.get(key)
        if allowed is None:
            offers, _ = evaluate_offers(workload, self.fleet)
            allowed = frozenset((o.pool.key, o.option.name if o.option else None) for o in offers)
            self._allowed[key] = allowed
        if (placement.pool, placement.accelerator) not in allowed:
            return None
        option = option_for(workload, placement.accelerator)
        return option if option is not None else AcceleratorOption("cpu", 0.0)

    def check(
        self, decision: Place, workload: Workload, nodes: NodeTable
    ) -> AcceleratorOption | Refused:
        """The option the placement runs on, or why it must be refused. Nothing is allocated."""
        p = decision.placement
        if len(p.assignments) != workload.replicas:
            return Refused(
                decision.run_id,
                Refusal.PARTIAL_GANG,
                f"{len(p.assignments)} of {workload.replicas} replicas",
            )
        option = self.option(workload, p)
        if option is None:
            return Refused(
                decision.run_id, Refusal.VIOLATION, f"{p.pool}/{p.accelerator} is not allowed"
            )
        short = _short_replica(workload, option, p)
        if short is not None:
            return Refused(decision.run_id, Refusal.OVER_ALLOCATION, short)
        problem = nodes.problem(p.pool, p.assignments, p.instances)
        if problem is not None:
            return Refused(decision.run_id, Refusal.OVER_ALLOCATION, problem)
        return option


def _short_replica(workload: Workload, option: AcceleratorOption, p: Placement) -> str | None:
    """Why a replica got less than one replica of ``workload`` needs, or None."""
    for a in p.assignments:
        if a.gpus < option.count - _EPS:
            return f"replica {a.replica} got {a.gpus:g} of {option.count:g} GPUs"
        if a.cpus < workload.cpus - _EPS:
            return f"replica {a.replica} got {a.cpus:g} of {workload.cpus:g} CPUs"
        if a.memory_gib < workload.memory_gib - _EPS:
            return f"replica {a.replica} got {a.memory_gib:g} of {workload.memory_gib:g} GiB"
    return None
