"""The audit log in SQL: ``audit_log`` rows, only ever inserted, and the ``audit_head`` row.

Appends are serialised so that two never take one sequence number nor link to one previous
hash, within a process and across replicas (decision 0025):

- PostgreSQL: the append takes a transaction-scoped advisory lock before it reads the head,
  and holds it until its transaction (the call's, or the unit of work's) ends. Under READ
  COMMITTED the head read after the lock is granted sees the previous holder's commit.
- SQLite: the append's transaction is a write transaction from its BEGIN (BEGIN IMMEDIATE,
  see ``engine.py``): a unit of work's always is, and the store's own append is given a
  writer scope for that. The database's one write lock then orders appends, across
  processes too.

The head row (id 1) is read instead of ``MAX(seq)``, inserted by the first append and moved
by each one after, in the same transaction as the entry it points at.

In a unit of work, append after the unit's other writes: the lock is held until the unit ends,
so other appends wait that long, and on PostgreSQL a unit that locked rows after taking it could
deadlock with one that holds those rows and waits for it (the database would fail one of them).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from aiplane.core.audit import GENESIS, AuditEntry, AuditHead
from aiplane.core.errors import StoreError
from aiplane.store.base import Seal
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope
from aiplane.store.sql.tables import AuditHeadRow, AuditLogRow, table_of

_LOG = table_of(AuditLogRow)
_HEAD = table_of(AuditHeadRow)
_HEAD_ID = 1

# Any constant works, as long as every replica uses it and nothing else in the database
# takes it; distinct from the migration lock (``migrate.py``).
PG_AUDIT_LOCK = 0x616970_61756469  # "aip" "audi"


# Built once: an append then only binds parameters to statements compiled (and cached) once,
# where building each with its values costs more than the database's work on SQLite.
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID)
_ADD_ENTRY = insert(_LOG)
_ADD_HEAD = insert(_HEAD)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def _head(session: Session | Connection) -> AuditHead | None:
    row = session.execute(_READ_HEAD).first()
    return AuditHead(row.seq, row.hash) if row is not None else None


class SqlAuditRepository:
    def __init__(self, scope: Scope, write_scope: Scope | None = None) -> None:
        """``write_scope``: where ``append`` runs, when it must differ from the reads' scope
        (the store's own calls on SQLite: a write transaction from its start)."""
        self._scope = scope
        self._write_scope = write_scope if write_scope is not None else scope

    def append(self, seal: Seal) -> AuditEntry:
        with self._write_scope() as session:
            # The session's connection, in its transaction: Core execution skips the ORM's
            # per-statement work, a third of an append's time (every mutation pays it).
            conn = session.connection()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_AUDIT_LOCK})
            previous = _head(conn)
            seq = previous.seq + 1 if previous is not None else 1
            entry = seal(seq, previous.hash if previous is not None else GENESIS)
            if entry.seq != seq:
                raise StoreError(f"the audit entry was sealed as {entry.seq}, not {seq}")
            conn.execute(_ADD_ENTRY, mappers.audit_values(entry))
            if previous is None:
                conn.execute(_ADD_HEAD, {"id": _HEAD_ID, "seq": seq, "hash": entry.hash})
            else:
                conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": entry.hash})
        return entry

    def entries(self, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        if limit <= 0:
            return []
        stmt = select(_LOG).where(_LOG.c.seq > after_seq).order_by(_LOG.c.seq).limit(limit)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.audit_from(row) for row in rows]

    def search(
        self,
        *,
        since: float | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        if limit <= 0:
            return []
        conditions: list[ColumnElement[bool]] = []
        if since is not None:
            conditions.append(_LOG.c.at >= since)
        if actor is not None:
            conditions.append(_LOG.c.actor == actor)
        if resource is not None and resource.endswith("/"):
            # substr, not LIKE: SQLite's LIKE ignores case, and "_" or "%" would need escaping.
            conditions.append(func.substr(_LOG.c.resource, 1, len(resource)) == resource)
        elif resource is not None:
            conditions.append(_LOG.c.resource == resource)
        stmt = select(_LOG).where(*conditions).order_by(_LOG.c.seq.desc()).limit(limit)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.audit_from(row) for row in reversed(rows)]

    def head(self) -> AuditHead | None:
        with self._scope() as session:
            return _head(session)
