"""Fleet versions in SQL: each apply a new row, the highest version in force."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select

from aiplane.store.base import FleetRecord
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, new_id
from aiplane.store.sql.tables import FleetVersionRow, table_of

_FLEETS = table_of(FleetVersionRow)


class SqlFleetRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def put(self, document: Mapping[str, Any], applied_at: float) -> FleetRecord:
        stored = dict(document)
        stmt = insert(_FLEETS).values(document=stored, applied_at=applied_at)
        with self._scope() as session:
            version = new_id(cast(CursorResult[Any], session.execute(stmt)))
        return FleetRecord(version=version, document=stored, applied_at=applied_at)

    def current(self) -> FleetRecord | None:
        stmt = select(_FLEETS).order_by(_FLEETS.c.version.desc()).limit(1)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        return mappers.fleet_from(row) if row is not None else None

    def history(self, until: float) -> list[FleetRecord]:
        stmt = (
            select(_FLEETS).where(_FLEETS.c.applied_at <= until).order_by(_FLEETS.c.version.asc())
        )
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.fleet_from(row) for row in rows]
