"""Jobs: submit, list, show, logs, cancel, explain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from aiplane.api.deps import CP, Member, Viewer
from aiplane.api.views import event_out, job_out
from aiplane.core.codec import placement_to_dict
from aiplane.core.errors import Problem, SpecError
from aiplane.core.runs import RunState
from aiplane.services import jobs
from aiplane.specs import workload_from_document
from aiplane.wire.jobs import EventOut, ExplanationOut, JobOut, JobPage, LogsOut, ReplicaLog
from aiplane.wire.specs import SpecBody

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobOut)
def submit(body: SpecBody, cp: CP, caller: Member) -> JobOut:
    workload = workload_from_document(body.spec, body.source, body.workdir)
    fleet = cp.fleet_cache.get(cp.store)
    view = jobs.submit(cp.store, workload, fleet, caller.name, cp.clock(), cp.budgets)
    cp.scheduler.wake()
    return job_out(view)


def _states(values: list[str] | None) -> list[RunState] | None:
    if not values:
        return None
    allowed = [str(s) for s in RunState]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise SpecError(
            "invalid state filter",
            [Problem("query.state", "unknown state", ", ".join(bad), ", ".join(allowed))],
        )
    return [RunState(v) for v in values]


@router.get("", response_model=JobPage)
def list_jobs(
    cp: CP,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[str | None, Query(description="cursor: job id to page before")] = None,
    state: Annotated[list[str] | None, Query(description="filter by run state")] = None,
    team: str | None = None,
) -> JobPage:
    views = jobs.listing(cp.store, limit, before, _states(state), team)
    items = [job_out(v) for v in views]
    return JobPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get("/{job_id}", response_model=JobOut)
def show(job_id: str, cp: CP, _: Viewer) -> JobOut:
    return job_out(jobs.get(cp.store, job_id), with_workload=True)


@router.get("/{job_id}/events", response_model=list[EventOut])
def events(job_id: str, cp: CP, _: Viewer) -> list[EventOut]:
    return [event_out(e) for e in jobs.events(cp.store, job_id)]


@router.get("/{job_id}/explain", response_model=ExplanationOut)
def explain(job_id: str, cp: CP, _: Viewer) -> ExplanationOut:
    view = jobs.get(cp.store, job_id)
    decisions = [
        event_out(e)
        for e in jobs.events(cp.store, job_id)
        if e.kind in ("run.placed", "run.waiting")
    ]
    placement = placement_to_dict(view.run.placement) if view.run.placement else None
    return ExplanationOut(
        job_id=job_id,
        state=str(view.run.state),
        reason=view.run.reason,
        placement=placement,
        decisions=decisions,
    )


@router.get("/{job_id}/logs", response_model=LogsOut)
def logs(
    job_id: str,
    cp: CP,
    _: Viewer,
    replica: int | None = None,
    tail_bytes: Annotated[int | None, Query(ge=1)] = None,
) -> LogsOut:
    out = jobs.logs(cp.store, cp.backends, job_id, replica, tail_bytes)
    return LogsOut(job_id=job_id, replicas=[ReplicaLog(replica=i, text=t) for i, t in out])


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel(job_id: str, cp: CP, _: Member) -> JobOut:
    view = jobs.cancel(cp.store, cp.backends, job_id, cp.clock(), cp.settings.cancel_grace_s)
    return job_out(view)
