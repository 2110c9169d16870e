"""Rented instances billed whole (decision 0039): which ways a pool may take work, and at what.

A cloud bills an instance from its start to its stop, whatever share of it the work uses. So
a rented (on-demand or spot) pool offers two things:

- its *running* nodes (every node of a fixed pool, the first ``nodes_min`` of an elastic one),
  already paid for: a replica there costs its dominant share of the node, as on owned capacity;
- *new instances* (an elastic pool's nodes above ``nodes_min``), started for one run, billed
  to it whole and held by it until it ends. Without ``pack`` each replica gets an instance of
  its own and must use all of its GPUs (never a fraction of a larger VM); with ``pack`` the
  run's replicas fill instances and the last one may be partly idle, still billed whole.

Owned and reserved pools are priced by share and packed best fit, as before.
"""

from __future__ import annotations

import math
from enum import StrEnum

from aiplane.core.fleet import Pool
from aiplane.core.workloads import AcceleratorOption, Workload

# More replicas than any real gang (``feasibility.MAX_REPLICAS``): the bound on one node
# when nothing limits it.
_UNBOUNDED = 10_000
_EPS = 1e-9


class Billing(StrEnum):
    """How an offer is billed; the value is what explanations show."""

    WHOLE = "whole instances"  # new instances started for the run, each billed whole
    RUNNING = "share of running nodes"  # a rented pool's always-up nodes, by dominant share
    SHARE = "share"  # owned or reserved capacity, by dominant share


def billings(pool: Pool) -> tuple[Billing, ...]:
    """The ways ``pool`` may take work: one offer per accelerator option and billing."""
    if not pool.rented:
        return (Billing.SHARE,)
    out = []
    if not pool.elastic or pool.nodes_min > 0:
        out.append(Billing.RUNNING)
    if pool.elastic and pool.nodes_max > pool.nodes_min:
        out.append(Billing.WHOLE)
    return tuple(out)


def replicas_per_node(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> int:
    """How many replicas one empty node of ``pool`` holds at most, by GPUs, CPUs and memory
    (fractional shares and MIG slices each sit on one GPU)."""
    shape = pool.node
    bounds = []
    if option is not None and option.count > 0:
        if option.count < 1:
            bounds.append(shape.gpus * math.floor(1 / option.count + _EPS))
        else:
            bounds.append(math.floor(shape.gpus / option.count + _EPS))
    if workload.cpus > 0:
        bounds.append(math.floor(shape.cpus / workload.cpus + _EPS))
    if workload.memory_gib > 0:
        bounds.append(math.floor(shape.memory_gib / workload.memory_gib + _EPS))
    return min(bounds) if bounds else _UNBOUNDED


def replicas_per_instance(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> int:
    """Replicas of one run that share a new instance: one without ``pack``, else as many as
    fit on an empty node (at least one; the shape check refuses what fits none)."""
    if not workload.pack:
        return 1
    return max(1, min(replicas_per_node(workload, pool, option), workload.replicas))


def instances_needed(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> int:
    """New instances a run starts on ``pool`` with ``option``."""
    return math.ceil(workload.replicas / replicas_per_instance(workload, pool, option))


def idle_gpus(workload: Workload, pool: Pool, option: AcceleratorOption | None) -> float:
    """GPUs the run's new instances leave unused (billed all the same)."""
    used = (option.count if option else 0.0) * workload.replicas
    return max(0.0, instances_needed(workload, pool, option) * pool.node.gpus - used)


def whole_instance_problem(
    workload: Workload, pool: Pool, option: AcceleratorOption | None
) -> str | None:
    """Why a replica may not start a new instance of ``pool`` on its own, or None: without
    ``pack`` a GPU replica must use every GPU of the instance it rents."""
    if workload.pack or option is None or option.count <= 0:
        return None
    gpus = pool.node.gpus
    if abs(option.count - gpus) < _EPS:
        return None
    return (
        f"a {option.count:g} x {option.name} replica would rent a whole {gpus}-GPU instance "
        "(rented instances are billed whole; set pack: true to share one among replicas)"
    )
