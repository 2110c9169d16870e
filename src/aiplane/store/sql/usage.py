"""Usage intervals in SQL: one row per attempt (a unique index refuses a second)."""

from __future__ import annotations

from sqlalchemy import or_, select

from aiplane.core.cost.usage import UsageInterval
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import UsageRow, table_of

_USAGE = table_of(UsageRow)


class SqlUsageRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def add(self, interval: UsageInterval) -> bool:
        with self._scope() as session:
            return insert_new(session, _USAGE, mappers.usage_values(interval))

    def overlapping(
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
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.usage_from(row) for row in rows]
