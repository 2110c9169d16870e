"""Core objects rendered as API bodies."""

from __future__ import annotations

from aiplane.api.schemas import EventOut, JobOut, PlacementOut
from aiplane.core.codec import workload_to_dict
from aiplane.core.events import Event
from aiplane.services.jobs import JobView


def job_out(view: JobView, with_workload: bool = False) -> JobOut:
    job, run = view.job, view.run
    w = job.workload
    placement = None
    if run.placement is not None:
        p = run.placement
        placement = PlacementOut(
            site=p.site,
            pool=p.pool,
            backend=p.backend,
            accelerator=p.accelerator,
            emulated=p.emulated,
            usd_per_hour=p.usd_per_hour,
            nodes=[a.node for a in p.assignments],
        )
    return JobOut(
        id=job.id,
        name=w.name,
        team=w.team,
        kind=str(w.kind),
        priority=w.priority,
        replicas=w.replicas,
        state=str(run.state),
        attempt=run.attempt,
        submitted_at=job.submitted_at,
        submitted_by=job.submitted_by,
        started_at=run.started_at,
        finished_at=run.finished_at,
        exit_code=run.exit_code,
        reason=run.reason,
        placement=placement,
        workload=workload_to_dict(w) if with_workload else None,
    )


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        at=event.at,
        kind=event.kind,
        message=event.message,
        run_id=event.run_id,
        data=dict(event.data),
    )
