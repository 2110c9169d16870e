"""``SqlStore``: the Store protocol on SQLAlchemy, for SQLite files and PostgreSQL.

Every call opens a short session of its own and commits before it returns, so one store can be
shared by API worker threads and background loops: nothing is held between calls but the
connection pool.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    CursorResult,
    Engine,
    Select,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from aiplane.core.auth import TokenRecord
from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.errors import ConflictError, NotFoundError, StoreError
from aiplane.core.events import Event
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.base import FleetRecord, Store
from aiplane.store.sql import mappers
from aiplane.store.sql.engine import make_engine
from aiplane.store.sql.migrate import upgrade
from aiplane.store.sql.tables import (
    ApiTokenRow,
    CostAlertRow,
    EventRow,
    FleetVersionRow,
    JobRow,
    RunRow,
    UsageRow,
    table_of,
)

_TOKENS = table_of(ApiTokenRow)
_FLEETS = table_of(FleetVersionRow)
_JOBS = table_of(JobRow)
_RUNS = table_of(RunRow)
_EVENTS = table_of(EventRow)
_USAGE = table_of(UsageRow)
_ALERTS = table_of(CostAlertRow)

# A listing row holds a job's and a run's columns side by side; both tables have ``id`` and
# ``created_at``-like names, so each side gets a prefix.
_JOB_LABELS = [column.label("j_" + column.name) for column in _JOBS.c]
_RUN_LABELS = [column.label("r_" + column.name) for column in _RUNS.c]


def _side(row: mappers.Values, prefix: str) -> dict[str, Any]:
    cut = len(prefix)
    return {key[cut:]: value for key, value in row.items() if key.startswith(prefix)}


class SqlStore:
    """A store over one engine. A job has exactly one run row: a retry moves the same run back
    to pending with ``attempt`` increased (see ``Run.transition``), so "the job's current run"
    and "the job's run" are the same thing and listings join one-to-one."""

    def __init__(self, engine: Engine) -> None:
        """Use an engine whose schema is already current; ``open`` is the usual way in."""
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True) -> SqlStore:
        """Connect to ``url`` and, unless ``migrate`` is false, upgrade the schema to head."""
        engine = make_engine(url)
        try:
            if migrate:
                upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError:
            raise  # callers turn these into ConflictError with a message that names the id
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    # tokens

    def add_token(self, token: TokenRecord) -> None:
        try:
            with self._session() as session:
                session.execute(insert(_TOKENS).values(mappers.token_values(token)))
        except IntegrityError as exc:
            raise ConflictError(f"token {token.id} (or its hash) is already stored") from exc

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        stmt = select(_TOKENS).where(_TOKENS.c.token_hash == token_hash)
        with self._session() as session:
            row = session.execute(stmt).mappings().first()
        return mappers.token_from(row) if row is not None else None

    def count_tokens(self) -> int:
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(_TOKENS)) or 0

    # fleet

    def put_fleet(self, document: Mapping[str, Any], applied_at: float) -> FleetRecord:
        stored = dict(document)
        stmt = insert(_FLEETS).values(document=stored, applied_at=applied_at)
        with self._session() as session:
            version = _new_id(cast(CursorResult[Any], session.execute(stmt)))
        return FleetRecord(version=version, document=stored, applied_at=applied_at)

    def get_fleet(self) -> FleetRecord | None:
        stmt = select(_FLEETS).order_by(_FLEETS.c.version.desc()).limit(1)
        with self._session() as session:
            row = session.execute(stmt).mappings().first()
        return mappers.fleet_from(row) if row is not None else None

    # jobs and runs

    def add_job(self, job: Job, run: Run, event: Event | None = None) -> None:
        if run.job_id != job.id:
            raise ValueError(f"run {run.id} belongs to job {run.job_id}, not {job.id}")
        try:
            # One transaction, one commit: submissions are the API's hot path.
            with self._session() as session:
                session.execute(insert(_JOBS).values(mappers.job_values(job)))
                session.execute(insert(_RUNS).values(mappers.run_values(run)))
                if event is not None:
                    session.execute(insert(_EVENTS).values(mappers.event_values(event)))
        except IntegrityError as exc:
            raise ConflictError(f"job {job.id} or run {run.id} is already stored") from exc

    def get_job(self, job_id: str) -> Job:
        stmt = select(_JOBS).where(_JOBS.c.id == job_id)
        with self._session() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return mappers.job_from(row)

    def get_run(self, run_id: str) -> Run:
        stmt = select(_RUNS).where(_RUNS.c.id == run_id)
        with self._session() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"run {run_id} not found")
        return mappers.run_from(row)

    def run_for_job(self, job_id: str) -> Run:
        stmt = (
            select(_RUNS)
            .where(_RUNS.c.job_id == job_id)
            .order_by(_RUNS.c.created_at.desc(), _RUNS.c.id.desc())
            .limit(1)
        )
        with self._session() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return mappers.run_from(row)

    def list_jobs(
        self,
        *,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
    ) -> list[tuple[Job, Run]]:
        if limit <= 0 or (states is not None and not states):
            return []
        stmt = list_jobs_statement(limit=limit, before=before, states=states, team=team)
        with self._session() as session:
            rows = session.execute(stmt).mappings().all()
        return [
            (mappers.job_from(_side(row, "j_")), mappers.run_from(_side(row, "r_"))) for row in rows
        ]

    def runs_in_states(self, states: Collection[RunState]) -> list[Run]:
        if not states:
            return []
        stmt = (
            select(_RUNS)
            .where(_RUNS.c.state.in_([str(s) for s in states]))
            .order_by(_RUNS.c.job_id, _RUNS.c.id)
        )
        with self._session() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.run_from(row) for row in rows]

    def runs_updated_since(self, since: float, *, limit: int) -> list[tuple[Job, Run]]:
        if limit <= 0:
            return []
        stmt = (
            select(*_JOB_LABELS, *_RUN_LABELS)
            .select_from(_RUNS.join(_JOBS, _JOBS.c.id == _RUNS.c.job_id))
            .where(_RUNS.c.updated_at >= since)
            .order_by(_RUNS.c.updated_at, _RUNS.c.id)
            .limit(limit)
        )
        with self._session() as session:
            rows = session.execute(stmt).mappings().all()
        return [
            (mappers.job_from(_side(row, "j_")), mappers.run_from(_side(row, "r_"))) for row in rows
        ]

    def update_run(self, run: Run, expected_state: RunState) -> None:
        # One conditional UPDATE is the whole compare-and-set: the database serialises
        # concurrent writers on the row, and the loser's WHERE no longer matches.
        values = mappers.run_values(run)
        del values["id"], values["job_id"]  # identity, never rewritten
        stmt = (
            update(_RUNS)
            .where(_RUNS.c.id == run.id, _RUNS.c.state == str(expected_state))
            .values(values)
        )
        with self._session() as session:
            result = cast(CursorResult[Any], session.execute(stmt))
            if result.rowcount == 1:
                return
            stored = session.scalar(select(_RUNS.c.state).where(_RUNS.c.id == run.id))
        if stored is None:
            raise NotFoundError(f"run {run.id} not found")
        raise ConflictError(
            f"run {run.id} is {stored}, not {expected_state}: it was changed concurrently"
        )

    # events

    def add_event(self, event: Event) -> Event:
        with self._session() as session:
            stmt = insert(_EVENTS).values(mappers.event_values(event))
            event_id = _new_id(cast(CursorResult[Any], session.execute(stmt)))
        return replace(event, id=event_id)

    def list_events(self, *, job_id: str | None = None, limit: int = 100) -> list[Event]:
        if limit <= 0:
            return []
        stmt = select(_EVENTS).order_by(_EVENTS.c.id.desc()).limit(limit)
        if job_id is not None:
            stmt = stmt.where(_EVENTS.c.job_id == job_id)
        with self._session() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.event_from(row) for row in reversed(rows)]

    # usage

    def add_usage(self, interval: UsageInterval) -> bool:
        try:
            with self._session() as session:
                session.execute(insert(_USAGE).values(mappers.usage_values(interval)))
        except IntegrityError:
            return False  # the unique (run_id, attempt) index: already recorded
        return True

    def list_usage(
        self, start: float, end: float, *, team: str | None = None
    ) -> list[UsageInterval]:
        u = _USAGE.c
        stmt = (
            select(*(u[name] for name in mappers.USAGE_COLUMNS))
            .where(u.start_at < end, or_(u.end_at > start, u.start_at >= start))
            .order_by(u.start_at, u.run_id, u.attempt)
        )
        if team is not None:
            stmt = stmt.where(u.team == team)
        with self._session() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.usage_from(row) for row in rows]

    # cost alerts

    def add_cost_alert(self, alert: CostAlert) -> bool:
        try:
            with self._session() as session:
                session.execute(insert(_ALERTS).values(mappers.alert_values(alert)))
        except IntegrityError:
            return False
        return True

    def cost_alerts(
        self, *, statuses: Collection[AlertStatus] | None = None, limit: int = 100
    ) -> list[CostAlert]:
        if limit <= 0 or (statuses is not None and not statuses):
            return []
        stmt = select(_ALERTS).order_by(_ALERTS.c.id.desc()).limit(limit)
        if statuses is not None:
            stmt = stmt.where(_ALERTS.c.status.in_([str(s) for s in statuses]))
        with self._session() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.alert_from(row) for row in reversed(rows)]

    def update_cost_alert(self, alert: CostAlert) -> None:
        values = mappers.alert_values(alert)
        del values["key"]
        stmt = update(_ALERTS).where(_ALERTS.c.key == alert.key).values(values)
        with self._session() as session:
            result = cast(CursorResult[Any], session.execute(stmt))
            if result.rowcount != 1:
                raise NotFoundError(f"cost alert {alert.key} not found")


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise StoreError("the database did not report the id it assigned")
    return int(key[0])


def list_jobs_statement(
    *,
    limit: int,
    before: str | None = None,
    states: Collection[RunState] | None = None,
    team: str | None = None,
) -> Select[Any]:
    """The keyset-paged listing query; public so tests can check the plan it gets.

    Without a state filter it walks the jobs' primary key (or the (team, id) index) backwards
    from the cursor and stops after ``limit`` rows. With one, each state contributes at most
    ``limit`` job ids read in order from the runs' (state, job_id) index, and only those few are
    merged and sorted: filtering on "succeeded, failed" among 100,000 jobs still reads about
    ``limit`` rows per state, where a plain ``state IN (...)`` would sort every match. No OFFSET
    is involved anywhere.
    """
    if states is None:
        ids = select(_JOBS.c.id.label("job_id"))
        if before is not None:
            ids = ids.where(_JOBS.c.id < before)
        if team is not None:
            ids = ids.where(_JOBS.c.team == team)
        page = ids.order_by(_JOBS.c.id.desc()).limit(limit).subquery("page")
    else:
        per_state = []
        for state in sorted(str(s) for s in set(states)):
            ids = select(_RUNS.c.job_id).where(_RUNS.c.state == state)
            if before is not None:
                ids = ids.where(_RUNS.c.job_id < before)
            if team is not None:
                ids = ids.join(_JOBS, _JOBS.c.id == _RUNS.c.job_id).where(_JOBS.c.team == team)
            ranked = ids.order_by(_RUNS.c.job_id.desc()).limit(limit).subquery()
            per_state.append(select(ranked.c.job_id))
        page = union_all(*per_state).subquery("page")
    return (
        select(*_JOB_LABELS, *_RUN_LABELS)
        .select_from(
            page.join(_JOBS, _JOBS.c.id == page.c.job_id).join(
                _RUNS, _RUNS.c.job_id == page.c.job_id
            )
        )
        .order_by(page.c.job_id.desc())
        .limit(limit)
    )


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Store = SqlStore(cast(Engine, None))
