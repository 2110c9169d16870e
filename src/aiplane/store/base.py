"""The store protocol. Every member passes ``tests/store/test_contract.py``.

Writes that race (two loops moving the same run) are settled by compare-and-set on the run's
state: ``update_run`` names the state it expects to replace and fails with ``ConflictError``
when the stored state is different, so no update is lost silently.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiplane.core.auth import TokenRecord
from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.events import Event
from aiplane.core.runs import Job, Run, RunState


@dataclass(frozen=True)
class FleetRecord:
    version: int
    document: Mapping[str, Any]  # the resolved fleet spec, as JSON-ready data
    applied_at: float


class Store(Protocol):
    # tokens
    def add_token(self, token: TokenRecord) -> None: ...
    def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...
    def count_tokens(self) -> int: ...

    # fleet: each apply stores a new version; the newest is the fleet in force
    def put_fleet(self, document: Mapping[str, Any], applied_at: float) -> FleetRecord: ...
    def get_fleet(self) -> FleetRecord | None: ...

    # jobs and runs
    def add_job(self, job: Job, run: Run, event: Event | None = None) -> None:
        """Store a job, its first run and (optionally) the event that records the submission,
        atomically. Raises ConflictError on a duplicate id."""
        ...

    def get_job(self, job_id: str) -> Job:
        """Raises NotFoundError."""
        ...

    def get_run(self, run_id: str) -> Run:
        """Raises NotFoundError."""
        ...

    def run_for_job(self, job_id: str) -> Run:
        """The job's current run. Raises NotFoundError."""
        ...

    def list_jobs(
        self,
        *,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
    ) -> list[tuple[Job, Run]]:
        """Newest first (job ids sort by submission time); ``before`` is an exclusive job-id
        cursor for the next page. ``states`` filters on the run's state (an empty collection
        matches nothing); ``team`` on the workload's team."""
        ...

    def runs_in_states(self, states: Collection[RunState]) -> list[Run]:
        """Oldest job first (by job id)."""
        ...

    def runs_updated_since(self, since: float, *, limit: int) -> list[tuple[Job, Run]]:
        """Runs (with their jobs) whose ``updated_at`` is at or after ``since``, oldest update
        first (ties by run id), at most ``limit``: the scheduler's incremental snapshot."""
        ...

    def update_run(self, run: Run, expected_state: RunState) -> None:
        """Replace the stored run if its state is still ``expected_state``, else ConflictError."""
        ...

    # events
    def add_event(self, event: Event) -> Event:
        """Append; returns the event with its ``id`` set."""
        ...

    def list_events(self, *, job_id: str | None = None, limit: int = 100) -> list[Event]:
        """The newest ``limit`` events (of one job, or of all), returned oldest first."""
        ...

    # usage: one interval per attempt of a run that held capacity (see core/cost/usage.py)
    def add_usage(self, interval: UsageInterval) -> bool:
        """Record an interval; False, storing nothing, when the run's attempt already has one
        (recording is idempotent, so two paths that end the same attempt cannot bill it twice)."""
        ...

    def list_usage(
        self, start: float, end: float, *, team: str | None = None
    ) -> list[UsageInterval]:
        """Intervals that overlap [start, end) (``start < end`` and ``end > start``), or that
        are empty and lie at ``start`` or inside; ordered by start, run id and attempt."""
        ...

    # cost alerts: at most one per key (budget, rule, period)
    def add_cost_alert(self, alert: CostAlert) -> bool:
        """Store a new alert; False, storing nothing, when one with its key exists."""
        ...

    def cost_alerts(
        self, *, statuses: Collection[AlertStatus] | None = None, limit: int = 100
    ) -> list[CostAlert]:
        """The newest ``limit`` alerts (of the given statuses), oldest first."""
        ...

    def update_cost_alert(self, alert: CostAlert) -> None:
        """Replace the alert with its key. Raises NotFoundError."""
        ...

    def close(self) -> None: ...
