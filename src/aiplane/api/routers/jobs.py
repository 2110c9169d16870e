"""Jobs: submit, list, show, logs, cancel, explain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.views import event_out, explanation_out, job_out
from aiplane.core.errors import Problem, SpecError
from aiplane.core.idempotency import MAX_LENGTH, TTL_S, RequestKey, fingerprint, parse_key
from aiplane.core.runs import RunState
from aiplane.specs import workload_from_document
from aiplane.wire.jobs import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    EventOut,
    ExplanationOut,
    JobOut,
    JobPage,
    LogsOut,
    ReplicaLog,
)
from aiplane.wire.specs import SpecBody

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=AUTHENTICATED)
# A route that names a job.
ONE_JOB = responses(404, 422)


_KEY_DOC = (
    f"Makes the submission safe to retry (decision 0034): 1 to {MAX_LENGTH} printable ASCII "
    "characters, a fresh one (a UUID) per intended job, the same one on a retry. A retry with "
    f"the same body answers 201 with the job the first request created and {IDEMPOTENT_REPLAYED}: "
    "true; the same key with another body is refused with 422, and while the first request is "
    f"still being processed with 409. Keys are the caller's own and kept {TTL_S / 3600:.0f} h."
)
_SUBMITTED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "the job, queued (or, for a retry with the same Idempotency-Key, the "
        "job the first request queued)",
        "headers": {
            IDEMPOTENT_REPLAYED: {
                "description": "true when the answer replays an earlier request's job",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobOut,
    responses={**responses(400, 402, 409, 422), **_SUBMITTED},
)
def submit(
    body: SpecBody,
    svc: Svc,
    caller: Authenticated,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias=IDEMPOTENCY_KEY, description=_KEY_DOC)
    ] = None,
) -> JobOut:
    key = None if idempotency_key is None else parse_key(idempotency_key)
    workload = workload_from_document(body.spec, body.source, body.workdir)
    if key is None:
        return job_out(svc.jobs.submit(caller, workload))
    request = RequestKey(key, fingerprint(body.model_dump(mode="json")))
    done = svc.jobs.submit_with_key(caller, workload, request)
    if done.replayed:
        response.headers[IDEMPOTENT_REPLAYED] = "true"
    return job_out(done.view)


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


# 404: a team the caller is not in, named in ``team`` (its existence is not disclosed).
@router.get("", response_model=JobPage, responses=responses(404, 422))
def list_jobs(
    svc: Svc,
    caller: Authenticated,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[str | None, Query(description="cursor: job id to page before")] = None,
    state: Annotated[list[str] | None, Query(description="filter by run state")] = None,
    team: str | None = None,
) -> JobPage:
    items = [job_out(v) for v in svc.jobs.listing(caller, limit, before, _states(state), team)]
    return JobPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get("/{job_id}", response_model=JobOut, responses=ONE_JOB)
def show(job_id: str, svc: Svc, caller: Authenticated) -> JobOut:
    return job_out(svc.jobs.show(caller, job_id), with_workload=True)


@router.get("/{job_id}/events", response_model=list[EventOut], responses=ONE_JOB)
def events(job_id: str, svc: Svc, caller: Authenticated) -> list[EventOut]:
    return [event_out(e) for e in svc.jobs.events(caller, job_id)]


@router.get("/{job_id}/explain", response_model=ExplanationOut, responses=ONE_JOB)
def explain(job_id: str, svc: Svc, caller: Authenticated) -> ExplanationOut:
    return explanation_out(svc.jobs.explain(caller, job_id))


@router.get("/{job_id}/logs", response_model=LogsOut, responses=responses(404, 422, 502))
def logs(
    job_id: str,
    svc: Svc,
    caller: Authenticated,
    replica: int | None = None,
    tail_bytes: Annotated[int | None, Query(ge=1)] = None,
) -> LogsOut:
    out = svc.jobs.logs(caller, job_id, replica, tail_bytes)
    return LogsOut(job_id=job_id, replicas=[ReplicaLog(replica=i, text=t) for i, t in out])


@router.post("/{job_id}/cancel", response_model=JobOut, responses=responses(404, 409, 422))
def cancel(job_id: str, svc: Svc, caller: Authenticated) -> JobOut:
    return job_out(svc.jobs.cancel(caller, job_id))
