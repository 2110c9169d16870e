from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiplane.client._http import Http, Retry
from aiplane.wire.jobs import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    CheckpointIn,
    CheckpointOut,
    EventOut,
    ExplanationOut,
    JobOut,
    JobPage,
    LogsOut,
)
from aiplane.wire.specs import SpecBody


@dataclass(frozen=True)
class Submission:
    """What a submission was answered with: the job, the key it was sent with, and whether
    the answer was a replay (the key had queued the job before: an earlier run, or a try
    whose answer was lost)."""

    job: JobOut
    key: str
    replayed: bool


class Jobs:
    """``/jobs``: submitted work and its runs."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def submit(
        self,
        spec: Mapping[str, Any],
        source: str = "request body",
        workdir: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> JobOut:
        """Queue a workload document (``workload.yaml``, parsed); ``source`` names it in
        error messages, ``workdir`` is where its command runs (local execution).

        Safe to retry: the request carries an ``Idempotency-Key`` (``idempotency_key``, else
        a fresh UUID per call) and is sent again with the same key after a broken connection,
        a timeout, a 502, 503 or 504 (the client's ``Retry``), so a submission that reached
        the server before the connection broke is answered with its job, never queued twice.
        Pass the same ``idempotency_key`` to a later call to make that one a retry too."""
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        return self.submission(spec, source, workdir, idempotency_key=key).job

    def submission(
        self,
        spec: Mapping[str, Any],
        source: str = "request body",
        workdir: str | None = None,
        *,
        idempotency_key: str,
        retry: Retry | None = None,
    ) -> Submission:
        """:meth:`submit` with the key the caller chose (so that it can tell the key when
        every try failed), retried as ``retry`` says (default: the client's), answered with
        whether it was a replay."""
        body = SpecBody(spec=dict(spec), source=source, workdir=workdir)
        headers = {IDEMPOTENCY_KEY: idempotency_key}
        job, response = self._http.call_retrying(
            JobOut, "POST", "/jobs", body.model_dump(), headers, retry
        )
        replayed = response.headers.get(IDEMPOTENT_REPLAYED, "").lower() == "true"
        return Submission(job, idempotency_key, replayed)

    def list(
        self,
        state: builtins.list[str] | None = None,
        team: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Jobs, newest first; pass ``next_cursor`` as ``before`` for the next page."""
        params = {"state": state, "team": team, "limit": limit, "before": before}
        return self._http.call(JobPage, "GET", "/jobs", params)

    def show(self, job_id: str) -> JobOut:
        """One job, with its workload."""
        return self._http.call(JobOut, "GET", f"/jobs/{job_id}")

    def events(self, job_id: str) -> builtins.list[EventOut]:
        return self._http.call_list(EventOut, "GET", f"/jobs/{job_id}/events")

    def explain(self, job_id: str) -> ExplanationOut:
        """Why the job runs where it runs, or why it still waits."""
        return self._http.call(ExplanationOut, "GET", f"/jobs/{job_id}/explain")

    def logs(
        self, job_id: str, replica: int | None = None, tail_bytes: int | None = None
    ) -> LogsOut:
        params = {"replica": replica, "tail_bytes": tail_bytes}
        return self._http.call(LogsOut, "GET", f"/jobs/{job_id}/logs", params)

    def checkpoint(
        self, job_id: str, uri: str | None = None, saved_at: float | None = None
    ) -> CheckpointOut:
        """Say that the job's running attempt saved a checkpoint (at ``uri``, at ``saved_at``,
        default now): the engine then counts the work before it as safe, and a preempted
        attempt's successor finds ``uri`` in ``AIPLANE_RESUME_FROM``."""
        body = CheckpointIn(uri=uri, saved_at=saved_at).model_dump()
        return self._http.call(CheckpointOut, "POST", f"/jobs/{job_id}/checkpoints", body=body)

    def cancel(self, job_id: str) -> JobOut:
        return self._http.call(JobOut, "POST", f"/jobs/{job_id}/cancel")
