"""From runs to usage intervals: what an attempt held, for how long, and the data it moved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiplane.core.cost.usage import MODEL_ENV, MODEL_LABEL, UsageInterval
from aiplane.core.data_movement import data_movement
from aiplane.core.fleet import Fleet, Pool, PricingModel
from aiplane.core.resources import Resources
from aiplane.core.runs import Job, ReplicaAssignment, Run
from aiplane.core.serving.endpoints import LABEL_ENDPOINT
from aiplane.core.workloads import Workload


def commitment_rate(pool: Pool) -> float | None:
    """USD per GPU-hour of a reserved pool's commitment, or None for a pool without one.
    With no discount given, the commitment costs what its hours would."""
    p = pool.pricing
    if p.model is not PricingModel.RESERVED or p.reserved_gpu_hours_per_month <= 0:
        return None
    if p.reserved_usd_per_gpu_hour is not None:
        return p.reserved_usd_per_gpu_hour
    return p.usd_per_node_hour / pool.node.gpus if pool.node.gpus else 0.0


@dataclass(frozen=True)
class AttemptRate:
    """What an attempt holding some assignments in a pool costs per hour."""

    # At the pool's price: what a usage interval records and metering bills beyond any
    # commitment.
    list_usd_per_hour: float
    # Covered by the pool's reserved commitment when it has one (the simulator's price, which
    # assumes the commitment covers the use); else the list rate.
    effective_usd_per_hour: float


def attempt_rate(
    pool: Pool, assignments: Iterable[ReplicaAssignment], instances: Iterable[str] = ()
) -> AttemptRate:
    """The one pricing of an attempt: the live metering and the simulator both call it.

    ``instances`` are the nodes started for the attempt and billed to it whole (decision
    0039): each costs the node's full hourly price, whatever its replicas use of it. The
    replicas on other nodes pay their dominant share of the node they are on.
    """
    assignments = tuple(assignments)
    whole = set(instances)
    listed = pool.pricing.usd_per_node_hour * len(whole) + sum(
        pool.usd_per_hour_for(Resources(a.gpus, a.cpus, a.memory_gib))
        for a in assignments
        if a.node not in whole
    )
    committed = commitment_rate(pool)
    if committed is None:
        return AttemptRate(listed, listed)
    return AttemptRate(listed, committed * sum(a.gpus for a in assignments))


def model_label(workload: Workload) -> str | None:
    if workload.labels.get(MODEL_LABEL):
        return workload.labels[MODEL_LABEL]
    return next((workload.env[k] for k in MODEL_ENV if workload.env.get(k)), None)


def egress(workload: Workload, site: str, fleet: Fleet | None) -> tuple[float, float]:
    """GB of inputs with no replica at ``site``, and what moving them costs: each from its
    cheapest replica, as placement priced it (:func:`~aiplane.core.data_movement.data_movement`,
    the one reckoning of both)."""
    moved = data_movement(workload.inputs, site, fleet)
    return moved.gb, moved.usd


def attempt_start(run: Run) -> float:
    """When the attempt began to hold capacity, as far as the run says: when it started
    running, or (a run that never reported running) its last update, the move to starting."""
    return run.started_at if run.started_at is not None else run.updated_at


def attempt_interval(
    job: Job, run: Run, ended_at: float, outcome: str, fleet: Fleet | None
) -> UsageInterval | None:
    """The usage of ``run``'s current attempt up to ``ended_at``; None if it held nothing."""
    p = run.placement
    if p is None:
        return None
    pricing = "unknown"
    pool = fleet.pool(p.pool) if fleet is not None else None
    if pool is not None:
        pricing = str(pool.pricing.model)
    else:
        chosen = p.explanation.get("chosen")
        if isinstance(chosen, dict) and isinstance(chosen.get("pricing"), str):
            pricing = chosen["pricing"]
    # The pool's price for what the attempt holds; the placement's quote only for a pool the
    # fleet no longer has.
    rate = (
        attempt_rate(pool, p.assignments, p.instances).list_usd_per_hour if pool else p.usd_per_hour
    )
    w = job.workload
    gb, usd = egress(w, p.site, fleet)
    start = attempt_start(run)
    return UsageInterval(
        run_id=run.id,
        job_id=job.id,
        attempt=run.attempt,
        team=w.team,
        workload=w.name,
        site=p.site,
        pool=p.pool,
        pricing=pricing,
        accelerator=p.accelerator,
        gpus=sum(a.gpus for a in p.assignments),
        start=start,
        end=max(start, ended_at),
        usd_per_hour=rate,
        project=w.project,
        model=model_label(w),
        # A replica of an endpoint (decision 0058): its cost is the endpoint's (decision 0060).
        endpoint=w.labels.get(LABEL_ENDPOINT) or None,
        egress_gb=gb,
        egress_usd=usd,
        outcome=outcome,
    )
