"""What only the SQL members have: migrations, engine settings, URLs and query plans."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import fields
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from aiplane.core.audit import AuditEntry, AuditHead, AuditRecord
from aiplane.core.auth import Principal, TokenRecord
from aiplane.core.errors import StoreError
from aiplane.core.events import Event
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.sql import SqlStore, make_engine, migrate, normalise_url
from aiplane.store.sql.jobs import page_statement
from aiplane.store.sql.migrate import alembic_config
from aiplane.store.sql.tables import Base

from . import factories as f


def _schema_diff(url: str) -> list[Any]:
    """Alembic's comparison, plus column collations, which alembic does not compare and on
    which the order of job listings depends."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff: list[Any] = list(compare_metadata(context, Base.metadata))
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            reflected = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                declared = getattr(column.type.dialect_impl(engine.dialect), "collation", None)
                found = getattr(reflected[column.name], "collation", None)
                if declared != found:
                    diff.append(("collation", table.name, column.name, declared, found))
        return diff
    finally:
        engine.dispose()


def test_migrations_create_exactly_what_the_models_declare(sql_url: str) -> None:
    migrate(sql_url)
    assert _schema_diff(sql_url) == []


def test_migrating_twice_is_a_no_op_and_downgrade_reverses(sql_url: str) -> None:
    migrate(sql_url)
    migrate(sql_url)
    engine = make_engine(sql_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(sql_url)
    assert _schema_diff(sql_url) == []


def test_replicas_starting_together_migrate_once(
    sql_url: str, request: pytest.FixtureRequest
) -> None:
    if "sqlite" in request.node.callspec.id:
        pytest.skip("one process owns an embedded SQLite database")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            SqlStore.open(sql_url).close()
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert _schema_diff(sql_url) == []


_RECORD_COLUMNS = {f.name for f in fields(AuditRecord)}


@pytest.mark.parametrize(
    ("core_type", "table", "folded", "extra_columns"),
    [
        # (fields stored elsewhere or spread over columns, columns that are not fields)
        (Principal, "principals", {"teams"}, {"email_lower"}),
        (TokenRecord, "api_tokens", {"scope"}, {"scope_team", "scope_job_id"}),
        (AuditEntry, "audit_log", {"record"}, _RECORD_COLUMNS),
        (AuditHead, "audit_head", set(), {"id"}),
        (Job, "jobs", set(), {"name", "team"}),
        (Run, "runs", set(), set()),
        (Event, "events", set(), set()),
    ],
)
def test_every_field_of_a_core_type_has_a_column(
    core_type: type[Any], table: str, folded: set[str], extra_columns: set[str]
) -> None:
    """A field added to a core type without a column would be dropped silently on write."""
    columns = {c.name for c in Base.metadata.tables[table].columns}
    assert {field.name for field in fields(core_type)} - folded | extra_columns == columns


def test_team_memberships_have_a_column_each() -> None:
    columns = {c.name for c in Base.metadata.tables["team_members"].columns}
    assert columns == {"principal_id", "team", "role"}


def test_sqlite_connections_are_configured_for_concurrent_use(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/nested/dir/aiplane.db")
    try:
        with engine.connect() as connection:

            def pragma(name: str) -> Any:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("busy_timeout") == 10_000
            assert pragma("foreign_keys") == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////var/lib/aiplane.db", "sqlite:////var/lib/aiplane.db"),
    ],
)
def test_urls_are_normalised_to_the_shipped_drivers(given: str, expected: str) -> None:
    assert normalise_url(given).render_as_string(hide_password=False) == expected


def test_sqlite_paths_expand_the_home_directory() -> None:
    assert "~" not in (normalise_url("sqlite:///~/.aiplane/aiplane.db").database or "")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://u@h/db"])
def test_unsupported_urls_are_refused_with_a_hint(url: str) -> None:
    with pytest.raises(StoreError, match="sqlite:///"):
        make_engine(url)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"before": f.job_id(5)},
        {"team": "research"},
        {"states": [RunState.PENDING]},
        {"states": [RunState.SUCCEEDED, RunState.FAILED], "team": "research"},
    ],
    ids=["all", "cursor", "team", "state", "states-and-team"],
)
def test_sqlite_lists_jobs_from_indexes_without_scanning_tables(
    tmp_path: Any, filters: dict[str, Any]
) -> None:
    """The plan, not a timing: each table is reached through an index, and the only sort is
    over the page's few ids."""
    store = SqlStore.open(f"sqlite:///{tmp_path}/plan.db")
    try:
        compiled = page_statement(limit=50, **filters).compile(
            store.engine, compile_kwargs={"render_postcompile": True}
        )
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        with store.engine.connect() as connection:
            plan = [
                row[-1]
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
            ]
    finally:
        store.close()
    full_scans = [step for step in plan if step.startswith(("SCAN jobs", "SCAN runs"))]
    assert all("INDEX" in step for step in full_scans), plan
    assert not any(step.startswith("SCAN runs") for step in plan), plan


def test_a_sqlite_unit_of_work_takes_the_write_lock_when_it_begins(tmp_path: Any) -> None:
    """BEGIN IMMEDIATE: a unit that reads, then writes, waits its turn at the start instead
    of failing with "database is locked" when another writer commits in between."""
    path = tmp_path / "lock.db"
    store = SqlStore.open(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        store.tokens.count()  # a read on the store's own: a deferred transaction, no lock held
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        with store.unit_of_work() as uow:
            uow.tokens.count()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        store.close()
