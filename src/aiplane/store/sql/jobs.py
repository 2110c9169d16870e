"""Jobs and their runs in SQL: one aggregate over the ``jobs`` and ``runs`` tables.

A job has exactly one run row: a retry moves the same run back to pending with ``attempt``
increased (see ``Run.transition``), so "the job's current run" and "the job's run" are the same
thing and listings join one-to-one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import CursorResult, Select, delete, select, union_all, update

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.base import conflict_message
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import JobRow, RunRow, table_of

_JOBS = table_of(JobRow)
_RUNS = table_of(RunRow)

# A listing row holds a job's and a run's columns side by side; both tables have ``id`` and
# ``created_at``-like names, so each side gets a prefix.
_JOB_LABELS = [column.label("j_" + column.name) for column in _JOBS.c]
_RUN_LABELS = [column.label("r_" + column.name) for column in _RUNS.c]


def _side(row: mappers.Values, prefix: str) -> dict[str, Any]:
    cut = len(prefix)
    return {key[cut:]: value for key, value in row.items() if key.startswith(prefix)}


class SqlJobRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def add(self, job: Job, run: Run) -> None:
        if run.job_id != job.id:
            raise ValueError(f"run {run.id} belongs to job {run.job_id}, not {job.id}")
        conflict = ConflictError(f"job {job.id} or run {run.id} is already stored")
        with self._scope() as session:
            if not insert_new(session, _JOBS, mappers.job_values(job)):
                raise conflict
            if not insert_new(session, _RUNS, mappers.run_values(run)):
                # The job row is this transaction's own: take it back, so that a unit of work
                # that goes on after the conflict holds neither half.
                session.execute(delete(_JOBS).where(_JOBS.c.id == job.id))
                raise conflict

    def get(self, job_id: str) -> Job:
        stmt = select(_JOBS).where(_JOBS.c.id == job_id)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return mappers.job_from(row)

    def get_run(self, run_id: str) -> Run:
        stmt = select(_RUNS).where(_RUNS.c.id == run_id)
        with self._scope() as session:
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
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return mappers.run_from(row)

    def page(
        self,
        *,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
        teams: Collection[str] | None = None,
    ) -> list[tuple[Job, Run]]:
        if limit <= 0 or (states is not None and not states) or (teams is not None and not teams):
            return []
        stmt = page_statement(limit=limit, before=before, states=states, team=team, teams=teams)
        with self._scope() as session:
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
        with self._scope() as session:
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
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [
            (mappers.job_from(_side(row, "j_")), mappers.run_from(_side(row, "r_"))) for row in rows
        ]

    def update_run(self, run: Run, expected_state: RunState) -> Run:
        # One conditional UPDATE is the whole compare-and-set: the database serialises
        # concurrent writers on the row, and the loser's WHERE no longer matches. A miss
        # leaves the transaction usable, so a unit of work may go on after a ConflictError.
        new = replace(run, revision=run.revision + 1)
        values = mappers.run_values(new)
        del values["id"], values["job_id"]  # identity, never rewritten
        stmt = (
            update(_RUNS)
            .where(
                _RUNS.c.id == run.id,
                _RUNS.c.state == str(expected_state),
                _RUNS.c.revision == run.revision,
            )
            .values(values)
        )
        with self._scope() as session:
            result = cast(CursorResult[Any], session.execute(stmt))
            if result.rowcount == 1:
                return new
            stored = session.execute(
                select(_RUNS.c.state, _RUNS.c.revision).where(_RUNS.c.id == run.id)
            ).first()
        if stored is None:
            raise NotFoundError(f"run {run.id} not found")
        raise ConflictError(conflict_message(run, expected_state, stored.state, stored.revision))


def page_statement(
    *,
    limit: int,
    before: str | None = None,
    states: Collection[RunState] | None = None,
    team: str | None = None,
    teams: Collection[str] | None = None,
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
        if teams is not None:
            ids = ids.where(_JOBS.c.team.in_(sorted(teams)))
        page = ids.order_by(_JOBS.c.id.desc()).limit(limit).subquery("page")
    else:
        per_state = []
        for state in sorted(str(s) for s in set(states)):
            ids = select(_RUNS.c.job_id).where(_RUNS.c.state == state)
            if before is not None:
                ids = ids.where(_RUNS.c.job_id < before)
            if team is not None or teams is not None:
                ids = ids.join(_JOBS, _JOBS.c.id == _RUNS.c.job_id)
            if team is not None:
                ids = ids.where(_JOBS.c.team == team)
            if teams is not None:
                ids = ids.where(_JOBS.c.team.in_(sorted(teams)))
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
