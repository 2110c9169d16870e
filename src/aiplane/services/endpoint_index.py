"""Which live runs are endpoints' replicas, kept up to date cheaply.

A replica is a job labelled with its endpoint (decision 0058), so the index is the store's
jobs, read as the scheduler's live state reads them: in full once a minute (page by page), and
between, only the runs updated since the newest seen, the last ``SLACK_S`` seconds read again
in case a write landed late. The endpoint loop asks every 2 s; a backlog of batch work does not
make each pass read every queued run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aiplane.core.runs import Job, Run, RunState
from aiplane.core.serving.endpoints import LABEL_ENDPOINT
from aiplane.services.endpoint_replicas import Replica
from aiplane.store.base import Store

LIVE_STATES = tuple(s for s in RunState if not s.terminal)
RESYNC_S = 60.0
SLACK_S = 10.0
PAGE = 1000


class ReplicaIndex:
    def __init__(self, store: Store, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._runs: dict[str, Replica] = {}  # run id -> a live replica
        self._tracked: dict[str, Job] = {}  # submitted, not seen live yet
        self._ended: list[Job] = []
        self._since: float | None = None  # the newest ``updated_at`` read
        self._synced_at: float | None = None

    def track(self, job: Job) -> None:
        """A job just submitted: its end is noticed even if no read sees it live."""
        with self._lock:
            self._tracked[job.id] = job

    def ended(self) -> list[Job]:
        """The endpoints' jobs whose runs ended since the last call (each once)."""
        with self._lock:
            out, self._ended = self._ended, []
        return out

    def live(self) -> list[Replica]:
        with self._lock:
            mono = self._monotonic()
            due = self._synced_at is None or mono - self._synced_at >= RESYNC_S
            if due or not self._catch_up():
                self._resync(mono)
            return list(self._runs.values())

    def _resync(self, mono: float) -> None:
        found: dict[str, Replica] = {}
        newest = self._since
        before: str | None = None
        while True:
            page = self._store.jobs.page(limit=PAGE, before=before, states=LIVE_STATES)
            for job, run in page:
                newest = run.updated_at if newest is None else max(newest, run.updated_at)
                if LABEL_ENDPOINT in job.workload.labels:
                    found[run.id] = Replica(job, run)
            if len(page) < PAGE:
                break
            before = page[-1][0].id
        seen_jobs = {r.job.id for r in found.values()}
        for run_id, replica in self._runs.items():
            if run_id not in found:
                self._ended.append(replica.job)
        for job_id, job in list(self._tracked.items()):
            if job_id in seen_jobs:
                del self._tracked[job_id]
            elif self._store.jobs.run_for_job(job_id).state.terminal:
                self._ended.append(job)
                del self._tracked[job_id]
        self._runs = found
        self._since = newest
        self._synced_at = mono

    def _catch_up(self) -> bool:
        """Read the runs updated since the last read; False when it cannot be done in pages
        (more than a page of runs share one instant): then a full read is due."""
        if self._since is None:
            return False  # nothing was live at the last full read: read in full (it is cheap)
        since = self._since - SLACK_S
        newest = self._since
        while True:
            page = self._store.jobs.runs_updated_since(since, limit=PAGE)
            for job, run in page:
                newest = max(newest, run.updated_at)
                if LABEL_ENDPOINT in job.workload.labels:
                    self._note(job, run)
            if len(page) < PAGE:
                break
            last = page[-1][1].updated_at
            if last <= since:
                return False
            since = last
        self._since = newest
        return True

    def _note(self, job: Job, run: Run) -> None:
        if run.state.terminal:
            was_live = self._runs.pop(run.id, None) is not None
            was_tracked = self._tracked.pop(job.id, None) is not None
            if was_live or was_tracked:
                self._ended.append(job)
        else:
            self._runs[run.id] = Replica(job, run)
            self._tracked.pop(job.id, None)
