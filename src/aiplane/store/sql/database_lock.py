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
plane holds it by then, so that two schedulers never run silently. TCP keepalives on both ends
of the lock session bound how long a dead peer goes unnoticed: the server drops the session of a
holder whose host died within ~11 s, and the watchdog's check on a half-open connection fails
within ~10 s instead of TCP's ~15 min. The lock needs a real session: a transaction pooler
(PgBouncer in transaction mode) leaves it on a server connection this process no longer sees.
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

from aiplane.core.errors import Problem, StoreError
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
# TCP keepalives of the lock session (libpq parameters, client side): a check on a half-open
# connection fails after ~10 s (unacknowledged data: tcp_user_timeout; idle: 5 + 3 x 2 s) instead
# of the kernel's ~15 min of retransmissions, so the watchdog notices a cut network in time.
_CLIENT_KEEPALIVES: dict[str, object] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# The same on the server's end of the session (per-session settings, PostgreSQL 12+): a holder
# whose host crashed, which can close no socket, has its session (and the lock) dropped after
# ~11 s instead of the kernel's default ~2 h 11 min. Ignored on a Unix socket (same host: a
# dead process's socket is closed by its kernel).
_SERVER_KEEPALIVES = (
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 "
    "-c tcp_user_timeout=10000"
)


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
        cls,
        database: str,
        holder: Holder | None,
        detail: str | None = None,
        backend_pid: int | None = None,
    ) -> DatabaseTakenError:
        who = holder.describe() if holder is not None else detail or "its details are unknown"
        if backend_pid is not None and holder is not None:  # else ``detail`` names it
            who += f"; its database session is backend pid {backend_pid}"
        text = (
            f"another control plane already runs over the database {database} ({who}); one "
            "control plane per database until leader election: stop that one, or give this one "
            "another AIPLANE_DATABASE_URL"
        )
        if backend_pid is not None:
            # A holder whose host is gone keeps the lock until the server drops its session
            # (~11 s with the lock session's keepalives); a person sure of it need not wait.
            text += (
                f". If that process is gone for sure, end its session: SELECT "
                f"pg_terminate_backend({backend_pid})"
            )
        return cls(text)


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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a directory that cannot be, or holds no file of ours
            raise _unusable(database, path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with os.fdopen(fd) as held:
                found = Holder.from_json(held.read())
            raise DatabaseTakenError.held_by(
                str(database), found, f"the holder's details are not written in {path} yet"
            ) from None
        except OSError as exc:  # a file system without flock (some network ones)
            os.close(fd)
            raise _unusable(database, path, exc) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.to_json().encode(), 0)
        except OSError as exc:  # a full disk, say: the lock is held, the holder unwritten
            os.close(fd)
            raise _unusable(database, path, exc) from None
        return cls(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the lock goes with the descriptor
            self._fd = None


def _unusable(database: Path, path: Path, exc: OSError) -> StoreError:
    """The SQLite lock file cannot be made or locked: which setting, which file, why."""
    reason = exc.strerror or exc.__class__.__name__
    return StoreError(
        f"cannot lock the SQLite database {database}: {path}: {reason}",
        [
            Problem(
                "AIPLANE_DATABASE_URL",
                f"its directory must be one where {path.name} can be created and locked",
                f"sqlite:///{database}",
                "a file in a writable local directory",
            )
        ],
    )


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
_UNLOCK = f"SELECT pg_advisory_unlock({ADVISORY_KEY})"
# Whether this session holds the lock: what the watchdog asks. (Built from int constants only.)
_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "  # noqa: S608
    f"AND classid = {_KEY_HIGH} AND objid = {_KEY_LOW} AND objsubid = 1 "
    "AND pid = pg_backend_pid()"
)
# The session that holds it, seen from another one. Advisory locks are per database and
# pg_locks shows the whole server's: without the database filter, the holder of another
# aiplane database on the same server could be named.
_HOLDING = (
    "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, a.query "  # noqa: S608
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted "
    f"AND l.classid = {_KEY_HIGH} AND l.objid = {_KEY_LOW} AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
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
        # The URL's own ``options`` (a search_path, say) are kept: connect_args replace it.
        given = url.query.get("options")
        options = " ".join(
            [*([given] if isinstance(given, str) else list(given or ())), _SERVER_KEEPALIVES]
        )
        # NullPool: closing the connection ends the session (and so releases the lock); the
        # store's pool never sees it.
        engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": name.decode(errors="ignore"),
                "connect_timeout": 10,
                **_CLIENT_KEEPALIVES,
                "options": options,
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
        self._release()
        self._drop_connection()
        self._engine.dispose()

    def _release(self) -> None:
        """Unlock before the session closes: a closed connection's server process exits a
        moment later, and the lock with it, so a holder started at once was refused."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(SQLAlchemyError):
            connection.exec_driver_sql(_UNLOCK)

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
        holder, detail, backend_pid = _holding(self._engine)
        if holder == self._holder and backend_pid is not None:
            # A session of this very control plane holds it: the one it lost, lingering on the
            # server (not yet seen dead), or a transaction pooler's, which gave this process's
            # lock statement to a server connection it keeps. Not another control plane, so
            # this one must not stop: end that session and take the lock at the next check.
            log.error(
                "the database lock is held by a stale session of this control plane itself "
                "(backend pid %d): ending it, and re-taking the lock in %g s. The lock needs "
                "a session connection, not a transaction pooler",
                backend_pid,
                self._interval,
            )
            _terminate(self._engine, backend_pid)
            return True
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


def _holding(engine: Engine) -> tuple[Holder | None, str, int | None]:
    """The holder's details as the holding session shows them, a fallback description from
    what PostgreSQL itself knows of that session, and that session's backend pid."""
    try:
        with engine.connect() as connection:
            row = connection.exec_driver_sql(_HOLDING).first()
    except SQLAlchemyError:
        return None, "its session could not be read", None
    if row is None:
        return None, "it has just let go: try again", None
    pid, application_name, client, backend_start, query = row
    holder = _holder_from_statement(query)
    detail = (
        f"database session pid {pid} ({application_name or 'no application name'}) from "
        f"{client or 'a local socket'} since {backend_start}"
    )
    return holder, detail, int(pid)


def _terminate(engine: Engine, backend_pid: int) -> None:
    """End the session ``backend_pid`` (the server drops its locks with it); logged when it
    cannot be (another role's session needs pg_signal_backend), for a person to end it."""
    try:
        with engine.connect() as connection:
            ended = connection.exec_driver_sql(
                f"SELECT pg_terminate_backend({int(backend_pid)})"
            ).scalar()
    except SQLAlchemyError as exc:
        ended = False
        log.error("cannot end database session %d (%s)", backend_pid, exc.__class__.__name__)
    if not ended:
        log.error(
            "database session %d still holds this control plane's lock: end it with SELECT "
            "pg_terminate_backend(%d)",
            backend_pid,
            backend_pid,
        )
