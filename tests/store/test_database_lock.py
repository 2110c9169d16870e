"""One control plane per database (decision 0035): the lock in PostgreSQL (a session-level
advisory lock) and beside an SQLite file (an flock), in-process. The ``aiplane up`` processes
that rely on it are tested in ``tests/test_one_per_database.py``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from aiplane.core.errors import StoreError
from aiplane.store.sql.database_lock import (
    ADVISORY_KEY,
    AdvisoryLock,
    DatabaseTakenError,
    Holder,
    _statement,
    hold_database,
)
from tests.store.conftest import PostgresServer

# A home no comment, bind parameter or quote may break on its way through the lock session.
HOSTILE_HOME = "/srv/a*/b/*c*/:name %s 'q' \"d\" ünï"


def _holder(pid: int, home: str = "/homes/first") -> Holder:
    return Holder("host-a", pid, home, 1_800_000_000.0, "http://127.0.0.1:8470")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/aiplane.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


_GRANTED = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "  # noqa: S608 (ints)
    f"AND classid = {ADVISORY_KEY >> 32} AND objid = {ADVISORY_KEY & 0xFFFFFFFF} "
    # Only this database's: other databases on the server may have holders of their own.
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _terminate_lock_session(url: str) -> None:
    """What a database restart or a network cut does to the lock's session."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            (pid,) = connection.exec_driver_sql(_GRANTED).scalars().all()
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            # Until its backend is gone, the session still holds the lock.
            deadline = time.monotonic() + 30  # a liveness bound, not a timing assertion
            while connection.exec_driver_sql(
                f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(pid)}"  # noqa: S608
            ).scalar():
                assert time.monotonic() < deadline, "the terminated session did not end"
                time.sleep(0.05)
    finally:
        engine.dispose()


def test_a_second_holder_is_refused_naming_the_first(database: str) -> None:
    first = hold_database(database, _holder(4242, HOSTILE_HOME))
    assert first is not None
    try:
        with pytest.raises(DatabaseTakenError) as refused:
            hold_database(database, _holder(5353, "/homes/second"))
        message = refused.value.message
        assert "another control plane already runs over the database" in message
        assert f"pid 4242 on host host-a, home {HOSTILE_HOME}" in message
        assert "started 2027-01-15T08:00:00+00:00" in message
        assert "serving http://127.0.0.1:8470" in message
        assert refused.value.code == "database_taken"
        # Refusing the second took nothing from the first.
        with pytest.raises(DatabaseTakenError):
            hold_database(database, _holder(5353, "/homes/second"))
    finally:
        first.close()
    second = hold_database(database, _holder(5353, "/homes/second"))
    assert second is not None
    second.close()


def test_an_in_memory_sqlite_database_needs_no_lock() -> None:
    assert hold_database("sqlite://", _holder(1)) is None
    assert hold_database("sqlite:///file:x?mode=memory&uri=true", _holder(1)) is None


def test_the_sqlite_lock_file_is_the_owners_only(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        lock = hold_database(f"sqlite:///{tmp_path}/aiplane.db", _holder(1))
    finally:
        os.umask(previous)
    assert lock is not None
    lock.close()
    assert (tmp_path / "aiplane.db.lock").stat().st_mode & 0o777 == 0o600


_HOLD_AND_WAIT = """
import sys, time
from aiplane.store.sql.database_lock import Holder, hold_database
lock = hold_database(sys.argv[1], Holder("h", 1, "/held", time.time()))
print("held", flush=True)
time.sleep(600)
"""


def test_a_holder_killed_with_sigkill_blocks_no_restart(database: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_WAIT, database],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseTakenError, match="home /held"):
            hold_database(database, _holder(2))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    # PostgreSQL ends the session when the dead process's socket closes: soon, not at once.
    deadline = time.monotonic() + 30  # a liveness bound, not a timing assertion
    while True:
        try:
            lock = hold_database(database, _holder(2))
            break
        except DatabaseTakenError:
            assert time.monotonic() < deadline, "the killed holder's lock outlived it"
            time.sleep(0.1)
    assert lock is not None
    lock.close()


def test_a_lost_session_is_taken_again(postgres_database: str) -> None:
    lost: list[Holder | None] = []
    lock = hold_database(postgres_database, _holder(1), lost.append, check_interval_s=3600)
    assert isinstance(lock, AdvisoryLock)
    try:
        _terminate_lock_session(postgres_database)
        assert lock.check() is True
        assert lost == []
        # Held again, for real: another control plane is refused.
        with pytest.raises(DatabaseTakenError, match="pid 1 on host host-a"):
            hold_database(postgres_database, _holder(2, "/homes/second"))
        assert lock.check() is True
    finally:
        lock.close()


def test_a_lock_taken_by_another_while_lost_stops_this_one(postgres_database: str) -> None:
    lost: list[Holder | None] = []
    lock = hold_database(postgres_database, _holder(1), lost.append, check_interval_s=3600)
    assert isinstance(lock, AdvisoryLock)
    try:
        _terminate_lock_session(postgres_database)
        other = hold_database(postgres_database, _holder(2, "/homes/other"))
        assert other is not None
        try:
            assert lock.check() is False
            assert lost == [_holder(2, "/homes/other")]
            # Lost for good: told once, and it does not try again.
            assert lock.check() is False
            assert lost == [_holder(2, "/homes/other")]
        finally:
            other.close()
    finally:
        lock.close()


def test_the_watchdog_notices_a_lost_lock_by_itself(postgres_database: str) -> None:
    called = threading.Event()
    seen: list[Holder | None] = []

    def on_lost(holder: Holder | None) -> None:
        seen.append(holder)
        called.set()

    lock = hold_database(postgres_database, _holder(1), on_lost, check_interval_s=0.1)
    assert lock is not None
    # Another session queues for the lock first, so that it, not the watchdog, gets it when
    # the holder's session ends.
    other = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    waiter = other.connect()
    queued = threading.Thread(
        target=lambda: waiter.exec_driver_sql(f"SELECT pg_advisory_lock({ADVISORY_KEY})")
    )
    try:
        queued.start()
        with other.connect() as connection:
            deadline = time.monotonic() + 30  # a liveness bound, not a timing assertion
            while not connection.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).scalar():
                assert time.monotonic() < deadline, "the other session did not queue"
                time.sleep(0.05)
        _terminate_lock_session(postgres_database)
        queued.join(30)
        assert called.wait(30), "the watchdog did not report the lost lock"
        assert len(seen) == 1
    finally:
        lock.close()
        waiter.close()
        other.dispose()


@pytest.fixture(autouse=True)
def _no_lingering_watchdogs() -> Iterator[None]:
    yield
    assert not [t for t in threading.enumerate() if t.name == "aiplane-database-lock"]


def test_an_unreachable_database_is_named_without_a_traceback_or_password() -> None:
    url = "postgresql+psycopg://aiplane:s3cret-pw@127.0.0.1:1/aiplane"
    with pytest.raises(StoreError) as failed:
        hold_database(url, _holder(1))
    assert not isinstance(failed.value, DatabaseTakenError)
    message = failed.value.message
    assert message.startswith("cannot reach the database postgresql+psycopg://aiplane:***@")
    assert "s3cret-pw" not in message


def test_the_lock_session_keeps_tcp_keepalives_on_both_ends(postgres_database: str) -> None:
    """A holder whose host crashed closes no socket: without keepalives the server keeps its
    session (and the lock) for ~2 h, and a half-open connection blocks the watchdog's check for
    ~15 min. These are the settings that bound both to seconds, and the server accepts them."""
    lock = hold_database(postgres_database, _holder(1))
    assert isinstance(lock, AdvisoryLock)
    try:
        connection = lock._connection
        assert connection is not None
        server = {
            name: connection.exec_driver_sql(f"SHOW {name}").scalar()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        }
        assert server == {
            "tcp_keepalives_idle": "5",
            "tcp_keepalives_interval": "2",
            "tcp_keepalives_count": "3",
            "tcp_user_timeout": "10000",  # ms
        }
        client = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert {
            k: client.get(k) for k in ("keepalives", "keepalives_idle", "tcp_user_timeout")
        } == {
            "keepalives": "1",
            "keepalives_idle": "5",
            "tcp_user_timeout": "10000",
        }
    finally:
        lock.close()


def test_a_refusal_names_the_holding_session_and_how_to_end_it(postgres_database: str) -> None:
    first = hold_database(postgres_database, _holder(4242))
    assert isinstance(first, AdvisoryLock)
    try:
        # Read from another session: a statement on the lock's would replace its details.
        engine = create_engine(postgres_database)
        with engine.connect() as connection:
            (backend,) = connection.exec_driver_sql(_GRANTED).scalars().all()
        engine.dispose()
        with pytest.raises(DatabaseTakenError) as refused:
            hold_database(postgres_database, _holder(5353, "/homes/second"))
        assert f"its database session is backend pid {backend}" in refused.value.message
        assert f"SELECT pg_terminate_backend({backend})" in refused.value.message
    finally:
        first.close()


def test_a_refusal_names_the_holder_of_this_database_not_another_one(
    postgres_server: PostgresServer,
) -> None:
    """Advisory locks are per database but pg_locks lists the whole server's: the holder of
    another aiplane database on the same server must not be named."""
    others = [postgres_server.create_database() for _ in range(3)]
    mine = postgres_server.create_database()
    held = [
        hold_database(url, _holder(100 + i, f"/homes/other{i}")) for i, url in enumerate(others)
    ]
    held.append(hold_database(mine, _holder(4242, "/homes/mine")))
    try:
        with pytest.raises(DatabaseTakenError) as refused:
            hold_database(mine, _holder(5353, "/homes/second"))
        assert "pid 4242 on host host-a, home /homes/mine" in refused.value.message
        assert "/homes/other" not in refused.value.message
    finally:
        for lock in held:
            assert lock is not None
            lock.close()


def test_a_stale_session_of_its_own_does_not_stop_the_control_plane(
    postgres_database: str,
) -> None:
    """Its own lost session lingering on the server (or a transaction pooler's connection) holds
    the lock under this control plane's own name: the watchdog ends that session and takes the
    lock again, and never reports it as taken by another."""
    lost: list[Holder | None] = []
    me = _holder(1)
    lock = hold_database(postgres_database, me, lost.append, check_interval_s=3600)
    assert isinstance(lock, AdvisoryLock)
    stale_engine = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    stale = None
    try:
        _terminate_lock_session(postgres_database)
        # A session that holds the lock with this control plane's own details, as its old one did.
        # Its last statement must be the lock's: pg_stat_activity shows that one.
        stale = stale_engine.connect()
        stale_pid = int(stale.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        assert stale.exec_driver_sql(
            _statement(me, f"SELECT pg_try_advisory_lock({ADVISORY_KEY})")
        ).scalar()
        assert lock.check() is True
        assert lost == []
        # The stale session is ended; once it is gone the next check takes the lock again.
        deadline = time.monotonic() + 30  # a liveness bound, not a timing assertion
        with stale_engine.connect() as probe:
            while probe.exec_driver_sql(
                f"SELECT count(*) FROM pg_stat_activity WHERE pid = {stale_pid}"  # noqa: S608
            ).scalar():
                assert time.monotonic() < deadline, "the stale session was not ended"
                time.sleep(0.05)
        assert lock.check() is True
        assert lost == []
        with pytest.raises(DatabaseTakenError, match="pid 1 on host host-a"):
            hold_database(postgres_database, _holder(2, "/homes/second"))
        assert lock._connection is not None
        mine = lock._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with stale_engine.connect() as probe:
            assert probe.exec_driver_sql(_GRANTED).scalars().all() == [mine]
    finally:
        lock.close()
        if stale is not None:
            with contextlib.suppress(SQLAlchemyError):  # ended by the watchdog
                stale.close()
        stale_engine.dispose()


@pytest.mark.parametrize(
    ("database", "reason"),
    [
        ("/proc/aiplane.db", "No such file or directory"),
        ("{tmp}/a-file/aiplane.db", "File exists"),
    ],
)
def test_an_sqlite_file_that_cannot_be_locked_is_a_located_error(
    tmp_path: Path, database: str, reason: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    path = database.format(tmp=tmp_path)
    with pytest.raises(StoreError) as failed:
        hold_database(f"sqlite:///{path}", _holder(1))
    assert not isinstance(failed.value, DatabaseTakenError)
    text = str(failed.value)
    assert f"{path}.lock: {reason}" in text
    assert "AIPLANE_DATABASE_URL" in text


def test_the_urls_own_session_options_are_kept_beside_the_keepalives(
    postgres_database: str,
) -> None:
    url = f"{postgres_database}?options=-c%20statement_timeout%3D1234"
    lock = hold_database(url, _holder(1))
    assert isinstance(lock, AdvisoryLock)
    try:
        assert lock._connection is not None
        show = lock._connection.exec_driver_sql
        assert show("SHOW statement_timeout").scalar() == "1234ms"
        assert show("SHOW tcp_keepalives_idle").scalar() == "5"
    finally:
        lock.close()
