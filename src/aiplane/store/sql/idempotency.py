"""Idempotency keys in SQL: the primary key (principal, key) settles a race between claims."""

from __future__ import annotations

from sqlalchemy import CursorResult, delete, select

from aiplane.core.idempotency import IdempotencyRecord, KeyInFlightError
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import IdempotencyKeyRow, table_of

_KEYS = table_of(IdempotencyKeyRow)
_COLUMNS = ("principal_id", "key", "fingerprint", "job_id", "created_at")


class SqlIdempotencyRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def claim(self, record: IdempotencyRecord, *, expired_before: float) -> IdempotencyRecord:
        k = _KEYS.c
        mine = (k.principal_id == record.principal_id) & (k.key == record.key)
        values = {name: getattr(record, name) for name in _COLUMNS}
        with self._scope() as session:
            session.execute(delete(_KEYS).where(mine, k.created_at < expired_before))
            # On PostgreSQL a claim racing an uncommitted one waits here for it; ON CONFLICT
            # DO NOTHING then leaves the transaction usable, and (read committed) the next
            # statement sees the winner.
            if insert_new(session, _KEYS, values):
                return record
            row = session.execute(select(*(k[n] for n in _COLUMNS)).where(mine)).first()
        if row is None:
            # The holder was purged (or rolled back) between the two statements: the key is
            # another request's business right now, and a retry settles it, so the answer is
            # the 409 the client retries (a plain conflict it would raise at once).
            raise KeyInFlightError(
                f"idempotency key {record.key!r} changed concurrently; retry the request"
            )
        return IdempotencyRecord(*row)

    def get(self, principal_id: str, key: str) -> IdempotencyRecord | None:
        k = _KEYS.c
        stmt = select(*(k[n] for n in _COLUMNS)).where(k.principal_id == principal_id)
        with self._scope() as session:
            row = session.execute(stmt.where(k.key == key)).first()
        return None if row is None else IdempotencyRecord(*row)

    def purge(self, before: float) -> int:
        with self._scope() as session:
            result = session.execute(delete(_KEYS).where(_KEYS.c.created_at < before))
        return int(result.rowcount) if isinstance(result, CursorResult) else 0
