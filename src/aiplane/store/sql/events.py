"""The event log in SQL: append-only, ids in commit order per writer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select

from aiplane.core.events import Event
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, new_id
from aiplane.store.sql.tables import EventRow, table_of

_EVENTS = table_of(EventRow)


class SqlEventRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def add(self, event: Event) -> Event:
        stmt = insert(_EVENTS).values(mappers.event_values(event))
        with self._scope() as session:
            event_id = new_id(cast(CursorResult[Any], session.execute(stmt)))
        return replace(event, id=event_id)

    def recent(self, *, job_id: str | None = None, limit: int = 100) -> list[Event]:
        if limit <= 0:
            return []
        stmt = select(_EVENTS).order_by(_EVENTS.c.id.desc()).limit(limit)
        if job_id is not None:
            stmt = stmt.where(_EVENTS.c.job_id == job_id)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.event_from(row) for row in reversed(rows)]
