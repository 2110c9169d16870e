"""Cost alerts in SQL: unique by key, ordered by a surrogate id."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.errors import NotFoundError
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import CostAlertRow, table_of

_ALERTS = table_of(CostAlertRow)


class SqlAlertRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def add(self, alert: CostAlert) -> bool:
        with self._scope() as session:
            return insert_new(session, _ALERTS, mappers.alert_values(alert))

    def recent(
        self, *, statuses: Collection[AlertStatus] | None = None, limit: int = 100
    ) -> list[CostAlert]:
        if limit <= 0 or (statuses is not None and not statuses):
            return []
        stmt = select(_ALERTS).order_by(_ALERTS.c.id.desc()).limit(limit)
        if statuses is not None:
            stmt = stmt.where(_ALERTS.c.status.in_([str(s) for s in statuses]))
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.alert_from(row) for row in reversed(rows)]

    def update(self, alert: CostAlert) -> None:
        values = mappers.alert_values(alert)
        del values["key"]
        stmt = update(_ALERTS).where(_ALERTS.c.key == alert.key).values(values)
        with self._scope() as session:
            result = cast(CursorResult[Any], session.execute(stmt))
            if result.rowcount != 1:
                raise NotFoundError(f"cost alert {alert.key} not found")
