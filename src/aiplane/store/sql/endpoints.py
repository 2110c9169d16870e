"""Endpoints in SQL: ``endpoints`` (the spec last applied) and ``endpoint_request_counts``.

A new endpoint is an INSERT that a taken name turns into nothing (ON CONFLICT DO NOTHING, so a
lost race on PostgreSQL does not abort the unit of work around it); a replacement is an UPDATE
conditioned on the generation expected, whose row count tells who won. Counters are summed by
the database, in one upsert per batch, so gateways reporting at once never lose an add.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.serving.routes import RequestCount
from aiplane.store import serving_codec as sc
from aiplane.store.sql.serving_tables import EndpointRow, RequestCountRow
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import table_of

_ENDPOINTS = table_of(EndpointRow)
_COUNTS = table_of(RequestCountRow)
_KEY = ("endpoint", "principal", "token_id", "hour")


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class SqlEndpointRepository:
    def __init__(self, scope: Scope, write_scope: Scope | None = None) -> None:
        """``write_scope``: for ``put``, whose refusal reads (why?) in the transaction that
        wrote, so on SQLite it holds the write lock from its BEGIN (see principals)."""
        self._scope = scope
        self._write_scope = write_scope if write_scope is not None else scope

    def put(self, endpoint: Endpoint, expected_generation: int | None) -> None:
        values = sc.endpoint_to(endpoint)
        name = endpoint.name
        with self._write_scope() as session:
            if expected_generation is None:
                if not insert_new(session, _ENDPOINTS, values):
                    raise ConflictError(sc.taken(name))
                return
            del values["name"]  # identity, never rewritten
            e = _ENDPOINTS.c
            stmt = (
                update(_ENDPOINTS)
                .where(e.name == name, e.generation == expected_generation)
                .values(values)
            )
            if _rowcount(session.execute(stmt)) == 1:
                return
            stored = session.scalar(select(e.generation).where(e.name == name))
        if stored is None:
            raise NotFoundError(sc.not_found(name))
        raise ConflictError(sc.generation_conflict(name, expected_generation, int(stored)))

    def get(self, name: str) -> Endpoint:
        found = self.find(name)
        if found is None:
            raise NotFoundError(sc.not_found(name))
        return found

    def find(self, name: str) -> Endpoint | None:
        stmt = select(_ENDPOINTS).where(_ENDPOINTS.c.name == name)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        return None if row is None else sc.endpoint_from(row)

    def listing(self, teams: Collection[str] | None = None) -> list[Endpoint]:
        if teams is not None and not teams:
            return []
        stmt = select(_ENDPOINTS).order_by(_ENDPOINTS.c.name)
        if teams is not None:
            stmt = stmt.where(_ENDPOINTS.c.team.in_(sorted(teams)))
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [sc.endpoint_from(row) for row in rows]

    def delete(self, name: str) -> None:
        stmt = delete(_ENDPOINTS).where(_ENDPOINTS.c.name == name)
        with self._scope() as session:
            if _rowcount(session.execute(stmt)) != 1:
                raise NotFoundError(sc.not_found(name))

    def add_counts(self, counts: Collection[RequestCount]) -> None:
        rows = sc.summed(counts)
        if not rows:
            return
        with self._scope() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(_COUNTS)
            c = _COUNTS.c
            # The team first stored stays: a counter is billed to whom it was first.
            upsert = stmt.on_conflict_do_update(
                index_elements=list(_KEY),
                set_={name: c[name] + stmt.excluded[name] for name in sc.SUMMED},
            )
            session.execute(upsert, rows)

    def counts(
        self,
        *,
        since: float,
        until: float,
        endpoint: str | None = None,
        teams: Collection[str] | None = None,
    ) -> list[RequestCount]:
        if teams is not None and not teams:
            return []
        c = _COUNTS.c
        stmt = (
            select(_COUNTS)
            .where(c.hour >= since, c.hour < until)
            .order_by(c.hour, c.endpoint, c.principal, c.token_id)
        )
        if endpoint is not None:
            stmt = stmt.where(c.endpoint == endpoint)
        if teams is not None:
            stmt = stmt.where(c.team.in_(sorted(teams)))
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [sc.count_from(row) for row in rows]
