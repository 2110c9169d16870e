"""Engines from database URLs: SQLite files for the embedded mode, PostgreSQL for production."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from aiplane.core.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 10_000

# An execution option: transactions on connections that carry it take SQLite's write lock when
# they begin (BEGIN IMMEDIATE). Units of work read before they write; a deferred transaction
# that does so fails at once with "database is locked" when another writer committed in
# between, where an immediate one waits its turn (up to the busy timeout).
WRITE_TRANSACTION = "aiplane_write_transaction"

_POSTGRES_ALIASES = {"postgres", "postgresql", "postgresql+psycopg"}

# PostgreSQL rejects NaN and infinity in JSON; refusing them on SQLite too keeps the two alike.
_json_serializer = functools.partial(json.dumps, allow_nan=False)


def masked_url(url: str | URL) -> str:
    """``url`` with its password (if any) shown as ``***``: how a URL is printed or logged."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (not a URL we can parse: show nothing of it)
        return "<unparsable database URL>"


def url_password(url: str | URL) -> str | None:
    """The password in ``url``, if any (so that it can be kept out of workloads' variables)."""
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 (nothing parsable, nothing to hide)
        return None
    return str(password) if password else None


def normalise_url(url: str | URL) -> URL:
    """Pin PostgreSQL URLs to psycopg 3, the driver we ship, whatever the user wrote."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # The URL itself is not repeated: it may hold a password.
        raise StoreError(
            f"cannot parse the database URL ({exc}); the URL is not shown, it may hold a "
            "password: use sqlite:///path/to/aiplane.db or postgresql://user@host/db"
        ) from None
    if parsed.drivername in _POSTGRES_ALIASES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        # SQLite does not expand "~", and would create a directory literally named "~".
        return parsed.set(database=str(Path(parsed.database).expanduser()))
    return parsed


def make_engine(url: str | URL) -> Engine:
    """An engine for ``sqlite:///path/file.db`` or ``postgresql[+psycopg]://...``."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.drivername == "postgresql+psycopg":
        # Pre-ping: replicas hold pooled connections across database restarts and failovers.
        return create_engine(parsed, pool_pre_ping=True, json_serializer=_json_serializer)
    raise StoreError(
        f"unsupported database URL {masked_url(parsed)!r}: "
        "use sqlite:///path/to/aiplane.db or postgresql://user@host/db"
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        # Each pooled connection would see its own empty database; MemoryStore is the
        # in-process store.
        raise StoreError(
            "in-memory SQLite is not supported: give a file path (sqlite:///path/aiplane.db) "
            "or use aiplane.store.memory.MemoryStore"
        )
    if not database.startswith("file:"):
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Made here, empty, for its owner only, whatever the process's umask (an embedded server
        # or a tool, not only ``aiplane up``, which sets 077): SQLite gives the WAL and shared
        # memory files the database file's mode, and the database holds token hashes, the audit
        # log and every job's spec.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    engine = create_engine(
        url,
        json_serializer=_json_serializer,
        # API worker threads and background loops share the pool.
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module, which skips BEGIN before SELECT
    # and DDL; ``_begin_sqlite_transaction`` emits it instead, so migrations are atomic too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer, and the API stays responsive during loop writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against application crashes and is the usual pairing with WAL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    write = connection.get_execution_options().get(WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
