"""One control plane per database: a lock held in (or beside) the database for a process's life.

Two control planes over one database each reconcile and schedule the other's runs; until leader
election (issue #16) the second one is refused at start (decision 0035). The lock must die with
its process, however that ends, so that no state it leaves can block a restart:

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection of its own (never one of
  the store's pool, which could return or close it). The server drops it with the session. The
  holder's details travel in that session's ``application_name`` and, in full, in a comment of
  the last statement it ran, which ``pg_stat_activity`` shows to the next one.
- SQLite: an ``flock`` on ``<database>.lock`` beside the file, the holder's details written in it.

A PostgreSQL session can be lost while the process runs (a restarted server, a network cut): a
watchdog checks the lock, re-takes it when it can, and calls ``on_lost`` when another control
plane holds it by then, so that two schedulers never run silently.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from aiplane.core.errors import StoreError
from aiplane.store.sql.engine import masked_url, normalise_url

log = logging.getLogger(__name__)

# The advisory lock's key: "aiplane1" as a big-endian int64, constant across releases so that an
# old and a new control plane exclude each other too. pg_locks shows it as classid (high 32
# bits), objid (low 32 bits) and objsubid 1.
ADVISORY_KEY = int.from_bytes(b"aiplane1", "big")
_KEY_HIGH, _KEY_LOW = ADVISORY_KEY >> 32, ADVISORY_KEY & 0xFFFFFFFF
# How often the watchdog checks that the PostgreSQL session still holds the lock.
CHECK_INTERVAL_S = 5.0
# PostgreSQL keeps application_name to 63 bytes.
_APPLICATION_NAME_BYTES = 63
# Marks the holder's details in the comment of the lock session's statements (hex: nothing in a
# home's path can end the comment or read as a bind parameter).
_HOLDER_MARK = "aiplane-holder="


@dataclass(frozen=True)
class Holder:
    """Who holds a database: enough for a person to find that process."""

    host: str
    pid: int
    home: str
    started_at: float
    url: str | None = None

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.started_at, UTC).isoformat(timespec="seconds")
        text = f"pid {self.pid} on host {self.host}, home {self.home}, started {started}"
        return text + (f", serving {self.url}" if self.url else "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        """The holder ``text`` records, or None when it records none (empty, damaged, old)."""
        try:
            data = json.loads(text)
            url = data.get("url")
            return cls(
                str(data["host"]),
                int(data["pid"]),
                str(data["home"]),
                float(data["started_at"]),
                None if url is None else str(url),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


class DatabaseTakenError(StoreError):
    """Another control plane holds this database (``aiplane up`` exits with
    ``DATABASE_TAKEN_EXIT``)."""

    code = "database_taken"

    @classmethod
    def held_by(
        cls, database: str, holder: Holder | None, detail: str | None = None
    ) -> DatabaseTakenError:
        who = holder.describe() if holder is not None else detail or "its details are unknown"
        return cls(
            f"another control plane already runs over the database {database} ({who}); one "
            "control plane per database until leader election: stop that one, or give this one "
            "another AIPLANE_DATABASE_URL"
        )


class DatabaseLock(Protocol):
    """A held database lock; ``close`` releases it (so does the end of the process)."""

    def close(self) -> None: ...


def hold_database(
    url: str | URL,
    holder: Holder,
    on_lost: Callable[[Holder | None], object] | None = None,
    check_interval_s: float = CHECK_INTERVAL_S,
) -> DatabaseLock | None:
    """Hold the database at ``url`` for this process, or raise ``DatabaseTakenError`` naming
    the control plane that holds it. None for databases that need no lock (in-memory SQLite,
    which no other process can open). ``on_lost`` is called (from the watchdog's thread) if a
    PostgreSQL lock is lost and another control plane holds it by the time it is re-taken.
    None too for a URL the store does not support, which opening the store then reports."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        return None if path is None else FileLock.take(path, holder)
    if parsed.drivername != "postgresql+psycopg":
        return None  # not a database we support: opening the store says so (``make_engine``)
    return AdvisoryLock.take(parsed, holder, on_lost, check_interval_s)


def sqlite_file(url: URL) -> Path | None:
    """The file an SQLite URL names, or None when it is in memory."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        path, _, query = database[len("file:") :].partition("?")
        if "mode=memory" in query or path in ("", ":memory:"):
            return None
        database = path
    return Path(database).expanduser().resolve()


class FileLock:
    """SQLite: an ``flock`` on ``<database>.lock``, which the kernel drops with the process."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def take(cls, database: Path, holder: Holder) -> FileLock:
        path = database.with_name(database.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with os.fdopen(fd) as held:
                found = Holder.from_json(held.read())
            raise DatabaseTakenError.held_by(
                str(database), found, f"the holder's details are not written in {path} yet"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.to_json().encode(), 0)
        return cls(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the lock goes with the descriptor
            self._fd = None


def _statement(holder: Holder, sql: str) -> str:
    """``sql`` with the holder's details in a leading comment: ``pg_stat_activity.query`` keeps
    the lock session's last statement, which is how the next control plane reads them."""
    return f"/* {_HOLDER_MARK}{holder.to_json().encode().hex()} */ {sql}"


def _holder_from_statement(query: str | None) -> Holder | None:
    if not query or _HOLDER_MARK not in query:
        return None
    encoded = query.split(_HOLDER_MARK, 1)[1].split(" ", 1)[0]
    try:
        return Holder.from_json(bytes.fromhex(encoded).decode())
    except ValueError:
        return None


_TRY_LOCK = f"SELECT pg_try_advisory_lock({ADVISORY_KEY})"
# Whether this session holds the lock: what the watchdog asks. (Built from int constants only.)
_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "  # noqa: S608
    f"AND classid = {_KEY_HIGH} AND objid = {_KEY_LOW} AND objsubid = 1 "
    "AND pid = pg_backend_pid()"
)
# The session that holds it, seen from another one.
_HOLDING = (
    "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, a.query "  # noqa: S608
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted "
    f"AND l.classid = {_KEY_HIGH} AND l.objid = {_KEY_LOW} AND l.objsubid = 1"
)


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock on a connection of its own, and its watchdog."""

    def __init__(
        self,
        engine: Engine,
        connection: Connection,
        holder: Holder,
        on_lost: Callable[[Holder | None], object] | None,
        check_interval_s: float,
    ) -> None:
        self._engine = engine
        self._connection: Connection | None = connection
        self._holder = holder
        self._on_lost = on_lost
        self._interval = check_interval_s
        # One check at a time (the watchdog's, or a caller's), and ``on_lost`` once.
        self._checking = threading.Lock()
        self._lost = False
        self._lost_to: Holder | None = None
        self._stop = threading.Event()
        self._watchdog = threading.Thread(
            target=self._watch, name="aiplane-database-lock", daemon=True
        )
        self._watchdog.start()

    @classmethod
    def take(
        cls,
        url: URL,
        holder: Holder,
        on_lost: Callable[[Holder | None], object] | None = None,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> AdvisoryLock:
        name = f"aiplane pid {holder.pid} on {holder.host}".encode()[:_APPLICATION_NAME_BYTES]
        # NullPool: closing the connection ends the session (and so releases the lock); the
        # store's pool never sees it.
        engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": name.decode(errors="ignore"),
                "connect_timeout": 10,
            },
        )
        try:
            connection = _connect_and_lock(engine, holder)
        except SQLAlchemyError as exc:
            engine.dispose()
            # The first thing a start asks of the database: say which and why, not a traceback.
            reason = str(getattr(exc, "orig", None) or exc.__class__.__name__).strip()
            raise StoreError(f"cannot reach the database {masked_url(url)}: {reason}") from None
        except BaseException:
            engine.dispose()
            raise
        if connection is None:
            try:
                raise DatabaseTakenError.held_by(masked_url(url), *_holding(engine))
            finally:
                engine.dispose()
        return cls(engine, connection, holder, on_lost, check_interval_s)

    def close(self) -> None:
        self._stop.set()
        if self._watchdog.is_alive() and threading.current_thread() is not self._watchdog:
            self._watchdog.join(self._interval + 5)
        self._drop_connection()
        self._engine.dispose()

    def check(self) -> bool:
        """One watchdog step: False once another control plane is known to hold the lock
        (``on_lost`` is then called, once); else True: held, re-taken, or the database cannot be
        reached just now (then nobody else can be seen to hold it; tried again next step)."""
        with self._checking:
            if self._lost:
                return False
            held = self._check()
            self._lost = not held
        if not held and self._on_lost is not None:
            self._on_lost(self._lost_to)
        return held

    def _check(self) -> bool:
        if self._connection is not None:
            try:
                if self._connection.exec_driver_sql(_statement(self._holder, _HELD)).scalar():
                    return True
                log.error("the database lock's session no longer holds the lock: re-taking it")
            except SQLAlchemyError as exc:
                log.error(
                    "lost the database session that holds the control plane's lock (%s): "
                    "re-taking it",
                    exc.__class__.__name__,
                )
            self._drop_connection()
        try:
            self._connection = _connect_and_lock(self._engine, self._holder)
        except SQLAlchemyError as exc:
            log.error(
                "cannot reach the database to re-take the control plane's lock (%s); trying "
                "again in %g s",
                exc.__class__.__name__,
                self._interval,
            )
            return True
        if self._connection is not None:
            log.warning("re-took the database lock after losing its session")
            return True
        holder, detail = _holding(self._engine)
        log.critical(
            "another control plane took this database while its lock was lost (%s): this one "
            "stops scheduling and reconciling",
            holder.describe() if holder is not None else detail,
        )
        self._lost_to = holder
        return False

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self.check():
                    return
            except Exception:  # the watchdog must outlive one bad check; logged
                log.exception("checking the database lock failed")

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()


def _connect_and_lock(engine: Engine, holder: Holder) -> Connection | None:
    """A new session holding the lock, or None when another session holds it."""
    connection = engine.connect()
    try:
        if connection.exec_driver_sql(_statement(holder, _TRY_LOCK)).scalar():
            return connection
    except BaseException:
        connection.close()
        raise
    connection.close()
    return None


def _holding(engine: Engine) -> tuple[Holder | None, str]:
    """The holder's details as the holding session shows them, and a fallback description
    from what PostgreSQL itself knows of that session."""
    try:
        with engine.connect() as connection:
            row = connection.exec_driver_sql(_HOLDING).first()
    except SQLAlchemyError:
        return None, "its session could not be read"
    if row is None:
        return None, "it has just let go: try again"
    pid, application_name, client, backend_start, query = row
    holder = _holder_from_statement(query)
    detail = (
        f"database session pid {pid} ({application_name or 'no application name'}) from "
        f"{client or 'a local socket'} since {backend_start}"
    )
    return holder, detail
