"""Store members for the contract suite: memory, SQLite (a temporary file), PostgreSQL.

PostgreSQL runs when ``AIPLANE_TEST_POSTGRES_URL`` names a server. Each test session creates its
own database there (and drops it at the end), so parallel CI jobs never see each other's rows.
When the variable is set but the server cannot be reached the PostgreSQL tests fail: a CI that
asked for PostgreSQL must not go green without it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from aiplane.store.sql import SqlStore, normalise_url

POSTGRES_ENV = "AIPLANE_TEST_POSTGRES_URL"

TABLES = (
    "principals",
    "team_members",
    "api_tokens",
    "audit_log",
    "audit_head",
    "fleet_versions",
    "jobs",
    "runs",
    "events",
    "usage_intervals",
    "cost_alerts",
    "idempotency_keys",
    "models",
    "model_versions",
    "model_version_inputs",
    "model_aliases",
    "alias_moves",
    "approvals",
    "registry_policies",
    "deployments",
    "datasets",
    "dataset_versions",
    "dataset_replicas",
    "artifact_manifests",
    "team_keys",
    "endpoints",
    "endpoint_request_counts",
)


class PostgresServer:
    """The server named by the environment, reached through an autocommit connection that can
    create and drop databases."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.admin: Engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10}
        )
        self._created: list[str] = []

    def create_database(self) -> str:
        """A fresh, uniquely named database; returns its URL."""
        name = f"aiplane_test_{secrets.token_hex(6)}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self._created:
                # FORCE: a test that failed may have left connections open.
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    raw = os.environ.get(POSTGRES_ENV)
    if not raw:
        pytest.skip(
            f"{POSTGRES_ENV} is not set; set it (e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres) to run the PostgreSQL store"
        )
    server = PostgresServer(normalise_url(raw))
    problem = None
    try:
        with server.admin.connect():
            pass
    except OperationalError as exc:
        problem = str(exc.orig)
    if problem is not None:
        server.admin.dispose()
        shown = server.url.render_as_string(hide_password=True)
        pytest.fail(f"{POSTGRES_ENV} is set but {shown} is unreachable: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """One database for the session's contract tests; each test starts from empty tables."""
    return postgres_server.create_database()


@dataclass
class Member:
    """One store implementation under test. ``open`` returns a store on the same data each
    time when ``durable``; the memory member starts empty on every open."""

    name: str
    opener: Callable[[], Store]
    durable: bool
    opened: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        store = self.opener()
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


def _emptied(url: str) -> str:
    store = SqlStore.open(url)
    try:
        with store.engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        store.close()
    return url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def member(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[Member]:
    if request.param == "memory":
        chosen = Member("memory", MemoryStore, durable=False)
    elif request.param == "sqlite":
        url = f"sqlite:///{os.fspath(tmp_path)}/aiplane.db"
        chosen = Member("sqlite", lambda: SqlStore.open(url), durable=True)
    else:
        pg_url = _emptied(request.getfixturevalue("postgres_url"))
        chosen = Member("postgres", lambda: SqlStore.open(pg_url), durable=True)
    try:
        yield chosen
    finally:
        chosen.close_all()


@pytest.fixture
def store(member: Member) -> Store:
    return member.open()


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A fresh, empty database of each SQL kind, not yet migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{os.fspath(tmp_path)}/fresh.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
