"""From runs to usage intervals: what an attempt held, for how long, and the data it moved."""

from __future__ import annotations

from aiplane.core.cost.usage import MODEL_ENV, MODEL_LABEL, UsageInterval
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Run
from aiplane.core.workloads import Workload


def model_label(workload: Workload) -> str | None:
    if workload.labels.get(MODEL_LABEL):
        return workload.labels[MODEL_LABEL]
    return next((workload.env[k] for k in MODEL_ENV if workload.env.get(k)), None)


def egress(workload: Workload, site: str, fleet: Fleet | None) -> tuple[float, float]:
    """GB of inputs that are not at ``site``, and what moving them costs: each dataset's size
    at the egress price of the site it leaves."""
    if fleet is None:
        return 0.0, 0.0
    gb = usd = 0.0
    for name in workload.inputs:
        dataset = fleet.dataset(name)
        if dataset is None or dataset.site == site:
            continue
        source = fleet.site(dataset.site)
        gb += dataset.size_gb
        usd += dataset.size_gb * (source.egress_usd_per_gb if source is not None else 0.0)
    return gb, usd


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
        usd_per_hour=p.usd_per_hour,
        project=w.project,
        model=model_label(w),
        egress_gb=gb,
        egress_usd=usd,
        outcome=outcome,
    )
