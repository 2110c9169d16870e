"""``MemoryStore``: the Store protocol in process memory, for unit tests of the layers above.

It keeps what the SQL store keeps, in the same form: jobs and runs as ``aiplane.core.codec``
dictionaries passed through JSON, decoded afresh on every read. So a value that would not survive
the database (a tuple that comes back as a list, an object JSON cannot encode) fails the same way
here, and a caller that mutates what it read cannot change what is stored.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aiplane.core import codec
from aiplane.core.auth import TokenRecord
from aiplane.core.cost.alerts import AlertStatus, CostAlert, alert_from_dict, alert_to_dict
from aiplane.core.cost.usage import UsageInterval, usage_from_dict, usage_to_dict
from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.events import Event
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.base import FleetRecord, Store


def _freeze(data: Any) -> str:
    # allow_nan=False: PostgreSQL rejects NaN and infinity in JSON, so every member does.
    return json.dumps(data, allow_nan=False)


def _thaw(text: str) -> Any:
    return json.loads(text)


@dataclass
class _StoredRun:
    # state and updated_at kept decoded for filtering; ``text`` is the source of truth
    state: RunState
    job_id: str
    updated_at: float
    text: str


@dataclass(frozen=True)
class _StoredEvent:
    id: int
    job_id: str | None
    text: str


class MemoryStore:
    """Thread-safe: one lock around every call, as the store is shared by API threads and loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}  # by hash; TokenRecord holds no mutable data
        self._fleets: list[tuple[float, str]] = []  # version n is at index n - 1
        self._jobs: dict[str, tuple[str, str]] = {}  # id -> (team, job JSON)
        self._job_ids: list[str] = []  # ascending, for keyset paging
        self._runs: dict[str, _StoredRun] = {}
        self._run_of_job: dict[str, str] = {}
        self._events: list[_StoredEvent] = []
        self._usage: dict[tuple[str, int], str] = {}  # (run id, attempt) -> interval JSON
        self._alerts: dict[str, str] = {}  # key -> alert JSON, in insertion order

    def close(self) -> None:
        pass

    # tokens

    def add_token(self, token: TokenRecord) -> None:
        with self._lock:
            if token.token_hash in self._tokens or any(
                t.id == token.id for t in self._tokens.values()
            ):
                raise ConflictError(f"token {token.id} (or its hash) is already stored")
            self._tokens[token.token_hash] = token

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._lock:
            return self._tokens.get(token_hash)

    def count_tokens(self) -> int:
        with self._lock:
            return len(self._tokens)

    # fleet

    def put_fleet(self, document: Mapping[str, Any], applied_at: float) -> FleetRecord:
        text = _freeze(dict(document))
        with self._lock:
            self._fleets.append((applied_at, text))
            version = len(self._fleets)
        return FleetRecord(version=version, document=_thaw(text), applied_at=applied_at)

    def get_fleet(self) -> FleetRecord | None:
        with self._lock:
            if not self._fleets:
                return None
            version = len(self._fleets)
            applied_at, text = self._fleets[-1]
        return FleetRecord(version=version, document=_thaw(text), applied_at=applied_at)

    # jobs and runs

    def add_job(self, job: Job, run: Run, event: Event | None = None) -> None:
        if run.job_id != job.id:
            raise ValueError(f"run {run.id} belongs to job {run.job_id}, not {job.id}")
        job_text = _freeze(codec.job_to_dict(job))
        run_text = _freeze(codec.run_to_dict(run))
        event_data = _freeze(_event_dict(event)) if event is not None else None
        with self._lock:
            if job.id in self._jobs or run.id in self._runs:
                raise ConflictError(f"job {job.id} or run {run.id} is already stored")
            self._jobs[job.id] = (job.workload.team, job_text)
            bisect.insort(self._job_ids, job.id)
            self._runs[run.id] = _StoredRun(run.state, run.job_id, run.updated_at, run_text)
            self._run_of_job[job.id] = run.id
            if event is not None and event_data is not None:
                self._events.append(_StoredEvent(len(self._events) + 1, event.job_id, event_data))

    def get_job(self, job_id: str) -> Job:
        with self._lock:
            stored = self._jobs.get(job_id)
        if stored is None:
            raise NotFoundError(f"job {job_id} not found")
        return codec.job_from_dict(_thaw(stored[1]))

    def get_run(self, run_id: str) -> Run:
        with self._lock:
            stored = self._runs.get(run_id)
            text = stored.text if stored is not None else None
        if text is None:
            raise NotFoundError(f"run {run_id} not found")
        return codec.run_from_dict(_thaw(text))

    def run_for_job(self, job_id: str) -> Run:
        with self._lock:
            run_id = self._run_of_job.get(job_id)
            text = self._runs[run_id].text if run_id is not None else None
        if text is None:
            raise NotFoundError(f"job {job_id} not found")
        return codec.run_from_dict(_thaw(text))

    def list_jobs(
        self,
        *,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
    ) -> list[tuple[Job, Run]]:
        wanted = None if states is None else frozenset(states)
        page: list[tuple[str, str]] = []
        with self._lock:
            ids = self._job_ids
            end = len(ids) if before is None else bisect.bisect_left(ids, before)
            for index in range(end - 1, -1, -1):
                if len(page) >= limit:
                    break
                job_id = ids[index]
                job_team, job_text = self._jobs[job_id]
                run = self._runs[self._run_of_job[job_id]]
                if team is not None and job_team != team:
                    continue
                if wanted is not None and run.state not in wanted:
                    continue
                page.append((job_text, run.text))
        return [
            (codec.job_from_dict(_thaw(job_text)), codec.run_from_dict(_thaw(run_text)))
            for job_text, run_text in page
        ]

    def runs_in_states(self, states: Collection[RunState]) -> list[Run]:
        wanted = frozenset(states)
        with self._lock:
            texts = [
                (run_id, stored.text)
                for run_id, stored in self._runs.items()
                if stored.state in wanted
            ]
        runs = [codec.run_from_dict(_thaw(text)) for _, text in texts]
        # The SQL store's order: oldest job first.
        return sorted(runs, key=lambda r: (r.job_id, r.id))

    def runs_updated_since(self, since: float, *, limit: int) -> list[tuple[Job, Run]]:
        with self._lock:
            recent = sorted(
                (stored.updated_at, run_id, self._jobs[stored.job_id][1], stored.text)
                for run_id, stored in self._runs.items()
                if stored.updated_at >= since
            )[: max(limit, 0)]
        return [
            (codec.job_from_dict(_thaw(job_text)), codec.run_from_dict(_thaw(run_text)))
            for _, _, job_text, run_text in recent
        ]

    def update_run(self, run: Run, expected_state: RunState) -> None:
        text = _freeze(codec.run_to_dict(run))
        with self._lock:
            stored = self._runs.get(run.id)
            if stored is None:
                raise NotFoundError(f"run {run.id} not found")
            if stored.state is not expected_state:
                raise ConflictError(
                    f"run {run.id} is {stored.state}, not {expected_state}: "
                    "it was changed concurrently"
                )
            stored.state = run.state
            stored.updated_at = run.updated_at
            stored.text = text

    # events

    def add_event(self, event: Event) -> Event:
        data = _freeze(_event_dict(event))
        with self._lock:
            event_id = len(self._events) + 1
            self._events.append(_StoredEvent(event_id, event.job_id, data))
        return replace(event, id=event_id)

    def list_events(self, *, job_id: str | None = None, limit: int = 100) -> list[Event]:
        if limit <= 0:
            return []
        picked: list[_StoredEvent] = []
        with self._lock:
            for stored in reversed(self._events):
                if len(picked) >= limit:
                    break
                if job_id is None or stored.job_id == job_id:
                    picked.append(stored)
        return [_event(stored) for stored in reversed(picked)]

    # usage

    def add_usage(self, interval: UsageInterval) -> bool:
        text = _freeze(usage_to_dict(interval))
        key = (interval.run_id, interval.attempt)
        with self._lock:
            if key in self._usage:
                return False
            self._usage[key] = text
        return True

    def list_usage(
        self, start: float, end: float, *, team: str | None = None
    ) -> list[UsageInterval]:
        with self._lock:
            texts = list(self._usage.values())
        found = [
            u
            for u in (usage_from_dict(_thaw(t)) for t in texts)
            if u.start < end
            and (u.end > start or u.start >= start)
            and (team is None or u.team == team)
        ]
        return sorted(found, key=lambda u: (u.start, u.run_id, u.attempt))

    # cost alerts

    def add_cost_alert(self, alert: CostAlert) -> bool:
        text = _freeze(alert_to_dict(alert))
        with self._lock:
            if alert.key in self._alerts:
                return False
            self._alerts[alert.key] = text
        return True

    def cost_alerts(
        self, *, statuses: Collection[AlertStatus] | None = None, limit: int = 100
    ) -> list[CostAlert]:
        if limit <= 0:
            return []
        with self._lock:
            texts = list(self._alerts.values())
        alerts = [alert_from_dict(_thaw(t)) for t in texts]
        if statuses is not None:
            wanted = frozenset(statuses)
            alerts = [a for a in alerts if a.status in wanted]
        return alerts[-limit:]

    def update_cost_alert(self, alert: CostAlert) -> None:
        text = _freeze(alert_to_dict(alert))
        with self._lock:
            if alert.key not in self._alerts:
                raise NotFoundError(f"cost alert {alert.key} not found")
            self._alerts[alert.key] = text


def _event_dict(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "kind": event.kind,
        "message": event.message,
        "job_id": event.job_id,
        "run_id": event.run_id,
        "data": dict(event.data),
    }


def _event(stored: _StoredEvent) -> Event:
    d = _thaw(stored.text)
    return Event(
        id=stored.id,
        at=d["at"],
        kind=d["kind"],
        message=d["message"],
        job_id=d["job_id"],
        run_id=d["run_id"],
        data=d["data"],
    )


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Store = MemoryStore()
