"""``MemoryStore``: the store in process memory, for unit tests of the layers above.

It keeps what the SQL store keeps, in the same form: jobs and runs as ``aiplane.core.codec``
dictionaries passed through JSON, decoded afresh on every read. So a value that would not survive
the database (a tuple that comes back as a list, an object JSON cannot encode) fails the same way
here, and a caller that mutates what it read cannot change what is stored.

One re-entrant lock guards all data. A call on the store holds it for that call; a unit of work
holds it from start to end (so other threads wait, as they would for a serialisable
transaction) and journals an undo step for every write, which it replays backwards when the
block raises.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiplane.core import codec
from aiplane.core.cost.alerts import AlertStatus, CostAlert, alert_from_dict, alert_to_dict
from aiplane.core.cost.usage import UsageInterval, usage_from_dict, usage_to_dict
from aiplane.core.errors import ConflictError, NotFoundError, StoreError
from aiplane.core.events import Event
from aiplane.core.idempotency import IdempotencyRecord
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.base import FleetRecord, Store, UnitOfWork, conflict_message
from aiplane.store.memory.data import Data as _Data
from aiplane.store.memory.data import Journal as _Journal
from aiplane.store.memory.data import Repository as _Repository
from aiplane.store.memory.data import StoredEvent as _StoredEvent
from aiplane.store.memory.data import StoredRun as _StoredRun
from aiplane.store.memory.data import freeze as _freeze
from aiplane.store.memory.data import thaw as _thaw
from aiplane.store.memory.identity import Audit, Principals, Tokens
from aiplane.store.memory.registry import Artifacts, Datasets, Models
from aiplane.store.memory.serving import Endpoints


class _Fleets(_Repository):
    def put(self, document: Mapping[str, Any], applied_at: float) -> FleetRecord:
        text = _freeze(dict(document))
        with self._locked() as d:
            d.fleets.append((applied_at, text))
            version = len(d.fleets)
            self._undo(d.fleets.pop)
        return FleetRecord(version=version, document=_thaw(text), applied_at=applied_at)

    def current(self) -> FleetRecord | None:
        with self._locked() as d:
            if not d.fleets:
                return None
            version = len(d.fleets)
            applied_at, text = d.fleets[-1]
        return FleetRecord(version=version, document=_thaw(text), applied_at=applied_at)

    def history(self, until: float) -> list[FleetRecord]:
        with self._locked() as d:
            stored = list(d.fleets)
        return [
            FleetRecord(version=i + 1, document=_thaw(text), applied_at=applied_at)
            for i, (applied_at, text) in enumerate(stored)
            if applied_at <= until
        ]


class _Jobs(_Repository):
    def add(self, job: Job, run: Run) -> None:
        if run.job_id != job.id:
            raise ValueError(f"run {run.id} belongs to job {run.job_id}, not {job.id}")
        job_text = _freeze(codec.job_to_dict(job))
        run_text = _freeze(codec.run_to_dict(run))
        with self._locked() as d:
            if job.id in d.jobs or run.id in d.runs:
                raise ConflictError(f"job {job.id} or run {run.id} is already stored")
            d.jobs[job.id] = (job.workload.team, job_text)
            bisect.insort(d.job_ids, job.id)
            d.runs[run.id] = _StoredRun(
                run.state, run.job_id, run.updated_at, run.revision, run_text
            )
            d.run_of_job[job.id] = run.id

            def undo() -> None:
                del d.jobs[job.id], d.runs[run.id], d.run_of_job[job.id]
                d.job_ids.pop(bisect.bisect_left(d.job_ids, job.id))

            self._undo(undo)

    def get(self, job_id: str) -> Job:
        with self._locked() as d:
            stored = d.jobs.get(job_id)
        if stored is None:
            raise NotFoundError(f"job {job_id} not found")
        return codec.job_from_dict(_thaw(stored[1]))

    def get_run(self, run_id: str) -> Run:
        with self._locked() as d:
            stored = d.runs.get(run_id)
            text = stored.text if stored is not None else None
        if text is None:
            raise NotFoundError(f"run {run_id} not found")
        return codec.run_from_dict(_thaw(text))

    def run_for_job(self, job_id: str) -> Run:
        with self._locked() as d:
            run_id = d.run_of_job.get(job_id)
            text = d.runs[run_id].text if run_id is not None else None
        if text is None:
            raise NotFoundError(f"job {job_id} not found")
        return codec.run_from_dict(_thaw(text))

    def page(
        self,
        *,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
        teams: Collection[str] | None = None,
    ) -> list[tuple[Job, Run]]:
        wanted = None if states is None else frozenset(states)
        among = None if teams is None else frozenset(teams)
        page: list[tuple[str, str]] = []
        with self._locked() as d:
            ids = d.job_ids
            end = len(ids) if before is None else bisect.bisect_left(ids, before)
            for index in range(end - 1, -1, -1):
                if len(page) >= limit:
                    break
                job_id = ids[index]
                job_team, job_text = d.jobs[job_id]
                run = d.runs[d.run_of_job[job_id]]
                if team is not None and job_team != team:
                    continue
                if among is not None and job_team not in among:
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
        with self._locked() as d:
            texts = [stored.text for stored in d.runs.values() if stored.state in wanted]
        runs = [codec.run_from_dict(_thaw(text)) for text in texts]
        # The SQL store's order: oldest job first.
        return sorted(runs, key=lambda r: (r.job_id, r.id))

    def runs_updated_since(self, since: float, *, limit: int) -> list[tuple[Job, Run]]:
        with self._locked() as d:
            recent = sorted(
                (stored.updated_at, run_id, d.jobs[stored.job_id][1], stored.text)
                for run_id, stored in d.runs.items()
                if stored.updated_at >= since
            )[: max(limit, 0)]
        return [
            (codec.job_from_dict(_thaw(job_text)), codec.run_from_dict(_thaw(run_text)))
            for _, _, job_text, run_text in recent
        ]

    def update_run(self, run: Run, expected_state: RunState) -> Run:
        new = replace(run, revision=run.revision + 1)
        text = _freeze(codec.run_to_dict(new))
        with self._locked() as d:
            stored = d.runs.get(run.id)
            if stored is None:
                raise NotFoundError(f"run {run.id} not found")
            if stored.state is not expected_state or stored.revision != run.revision:
                raise ConflictError(
                    conflict_message(run, expected_state, stored.state, stored.revision)
                )
            d.runs[run.id] = _StoredRun(run.state, run.job_id, run.updated_at, new.revision, text)
            self._undo(lambda: d.runs.__setitem__(run.id, stored))
        return new


class _Events(_Repository):
    def add(self, event: Event) -> Event:
        data = _freeze(_event_dict(event))
        with self._locked() as d:
            event_id = len(d.events) + 1
            d.events.append(_StoredEvent(event_id, event.job_id, data))
            self._undo(d.events.pop)
        return replace(event, id=event_id)

    def recent(self, *, job_id: str | None = None, limit: int = 100) -> list[Event]:
        if limit <= 0:
            return []
        picked: list[_StoredEvent] = []
        with self._locked() as d:
            for stored in reversed(d.events):
                if len(picked) >= limit:
                    break
                if job_id is None or stored.job_id == job_id:
                    picked.append(stored)
        return [_event(stored) for stored in reversed(picked)]


class _Usage(_Repository):
    def add(self, interval: UsageInterval) -> bool:
        text = _freeze(usage_to_dict(interval))
        key = (interval.run_id, interval.attempt)
        with self._locked() as d:
            if key in d.usage:
                return False
            d.usage[key] = text
            self._undo(lambda: d.usage.pop(key))
        return True

    def overlapping(
        self, start: float, end: float, *, team: str | None = None
    ) -> list[UsageInterval]:
        with self._locked() as d:
            texts = list(d.usage.values())
        found = [
            u
            for u in (usage_from_dict(_thaw(t)) for t in texts)
            if u.start < end
            and (u.end > start or u.start >= start)
            and (team is None or u.team == team)
        ]
        return sorted(found, key=lambda u: (u.start, u.run_id, u.attempt))


class _Alerts(_Repository):
    def add(self, alert: CostAlert) -> bool:
        text = _freeze(alert_to_dict(alert))
        with self._locked() as d:
            if alert.key in d.alerts:
                return False
            d.alerts[alert.key] = text
            self._undo(lambda: d.alerts.pop(alert.key))
        return True

    def recent(
        self, *, statuses: Collection[AlertStatus] | None = None, limit: int = 100
    ) -> list[CostAlert]:
        if limit <= 0:
            return []
        with self._locked() as d:
            texts = list(d.alerts.values())
        alerts = [alert_from_dict(_thaw(t)) for t in texts]
        if statuses is not None:
            wanted = frozenset(statuses)
            alerts = [a for a in alerts if a.status in wanted]
        return alerts[-limit:]

    def update(self, alert: CostAlert) -> None:
        text = _freeze(alert_to_dict(alert))
        with self._locked() as d:
            old = d.alerts.get(alert.key)
            if old is None:
                raise NotFoundError(f"cost alert {alert.key} not found")
            d.alerts[alert.key] = text
            self._undo(lambda: d.alerts.__setitem__(alert.key, old))


class _Idempotency(_Repository):
    def claim(self, record: IdempotencyRecord, *, expired_before: float) -> IdempotencyRecord:
        slot = (record.principal_id, record.key)
        with self._locked() as d:
            held = d.idempotency.get(slot)
            if held is not None and held.created_at >= expired_before:
                return held
            d.idempotency[slot] = record
            if held is None:
                self._undo(lambda: d.idempotency.pop(slot))
            else:
                self._undo(lambda: d.idempotency.__setitem__(slot, held))
        return record

    def get(self, principal_id: str, key: str) -> IdempotencyRecord | None:
        with self._locked() as d:
            return d.idempotency.get((principal_id, key))

    def purge(self, before: float) -> int:
        with self._locked() as d:
            old = {s: r for s, r in d.idempotency.items() if r.created_at < before}
            for slot in old:
                del d.idempotency[slot]
            self._undo(lambda: d.idempotency.update(old))
        return len(old)


class _Repositories:
    def __init__(self, data: _Data, journal: _Journal) -> None:
        self.principals = Principals(data, journal)
        self.tokens = Tokens(data, journal)
        self.audit = Audit(data, journal)
        self.fleets = _Fleets(data, journal)
        self.jobs = _Jobs(data, journal)
        self.events = _Events(data, journal)
        self.usage = _Usage(data, journal)
        self.alerts = _Alerts(data, journal)
        self.idempotency = _Idempotency(data, journal)
        self.models = Models(data, journal)
        self.datasets = Datasets(data, journal)
        self.artifacts = Artifacts(data, journal)
        self.endpoints = Endpoints(data, journal)


class MemoryStore(_Repositories):
    """Thread-safe: the store is shared by API threads and loops."""

    def __init__(self) -> None:
        self._data = _Data()
        super().__init__(self._data, None)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        d = self._data
        with d.lock:
            if d.in_unit:
                raise StoreError("units of work do not nest: a unit of work is open already")
            d.in_unit = True
            journal: list[Callable[[], object]] = []
            try:
                yield _Repositories(d, journal)
            except BaseException:
                for undo in reversed(journal):
                    undo()
                raise
            finally:
                d.in_unit = False

    def close(self) -> None:
        pass


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
    _unit_conforms: UnitOfWork = _Repositories(_Data(), [])
