"""Where a repository's statements run: a transaction per call, or the unit of work's.

Every SQL repository takes a :data:`Scope`, a context manager factory that yields the session
to use. The store's own repositories get :class:`PerCall` (a short transaction per call,
committed before it returns, so one store can be shared by API threads and loops); a unit of
work's get :class:`Shared` (its one session, committed or rolled back when the unit ends).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Table, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from aiplane.core.errors import StoreError

Scope = Callable[[], AbstractContextManager[Session]]


@contextmanager
def translated() -> Iterator[None]:
    """Database failures as StoreError (HTTP 503), with the driver's message."""
    try:
        yield
    except DBAPIError as exc:
        raise StoreError(f"database error: {exc.orig}") from exc


class UnitMarker:
    """Which threads have a unit of work open on one store."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def open(self) -> bool:
        return bool(getattr(self._local, "open", False))

    @contextmanager
    def entered(self) -> Iterator[None]:
        if self.open:
            raise StoreError("units of work do not nest: a unit of work is open already")
        self._local.open = True
        try:
            yield
        finally:
            self._local.open = False


class PerCall:
    """Each use is a transaction of its own, committed on success, rolled back on error."""

    def __init__(self, sessions: sessionmaker[Session], units: UnitMarker) -> None:
        self._sessions = sessions
        self._units = units

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        if self._units.open:
            # Another connection would not see the unit's writes, and on SQLite would wait
            # for the write lock this very thread holds.
            raise StoreError("inside a unit of work, use its repositories, not the store's")
        with translated(), self._sessions.begin() as session:
            yield session


class Shared:
    """Every use is the unit of work's session; the unit commits or rolls back."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        with translated():
            yield self._session


def insert_new(session: Session, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless one of the table's unique keys is taken; True when inserted.

    ON CONFLICT DO NOTHING rather than catching the IntegrityError: on PostgreSQL a failed
    statement aborts the whole transaction, which would doom the unit of work around it.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # RETURNING rather than rowcount, which psycopg does not report for this statement.
    key = next(iter(table.primary_key.columns))
    stmt = dialect.insert(table).values(values).on_conflict_do_nothing().returning(key)
    return session.execute(stmt).first() is not None


def insert_where(
    session: Session, table: Table, values: dict[str, Any], condition: ColumnElement[bool]
) -> bool:
    """Insert a row if ``condition`` holds and none of the table's unique keys is taken, in one
    statement (INSERT ... SELECT ... WHERE ... ON CONFLICT DO NOTHING); True when inserted.

    What a registration needs: its parent must exist and its number be free, and neither may
    cost a read before the write nor, when refused, abort the transaction (see ``insert_new``).
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # The SELECT always has its WHERE: SQLite would otherwise read ON CONFLICT as a join's ON.
    row = select(*(literal(v, table.c[k].type) for k, v in values.items())).where(condition)
    stmt = dialect.insert(table).from_select(list(values), row).on_conflict_do_nothing()
    return session.execute(stmt.returning(key)).first() is not None


def new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise StoreError("the database did not report the id it assigned")
    return int(key[0])
