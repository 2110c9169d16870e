"""What only the SQL members have: migrations, engine settings, URLs and query plans."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, text

import aiplane
from aiplane.core.audit import AuditEntry, AuditHead, AuditRecord, verify_chain
from aiplane.core.auth import GlobalRole, Principal, PrincipalKind, TokenRecord
from aiplane.core.errors import StoreError
from aiplane.core.events import Event
from aiplane.core.registry.records import (
    Alias,
    AliasMove,
    Approval,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    PolicyRecord,
    Replica,
    TeamKey,
)
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.serving.routes import RequestCount
from aiplane.store.sql import SqlStore, make_engine, migrate, normalise_url
from aiplane.store.sql.jobs import page_statement
from aiplane.store.sql.migrate import alembic_config
from aiplane.store.sql.tables import Base

from . import factories as f
from . import registry_factories as r
from . import serving_factories as sf
from .factories import T0


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
        (Model, "models", set(), set()),
        (ModelVersion, "model_versions", set(), set()),
        (Alias, "model_aliases", set(), set()),
        (AliasMove, "alias_moves", set(), {"id"}),
        (Approval, "approvals", set(), {"id"}),
        (PolicyRecord, "registry_policies", set(), set()),
        (Deployment, "deployments", set(), {"id"}),
        (Dataset, "datasets", set(), set()),
        (DatasetVersion, "dataset_versions", {"replicas"}, set()),
        (Replica, "dataset_replicas", set(), {"dataset", "version"}),
        (TeamKey, "team_keys", set(), set()),
        (Endpoint, "endpoints", set(), {"name", "team"}),
        (RequestCount, "endpoint_request_counts", set(), set()),
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


def _old_token(n: int, name: str, role: str, *, revoked: bool = False) -> dict[str, Any]:
    return {
        "id": f"tok-{n:013d}",
        "name": name,
        "role": role,
        "token_hash": f"{n:064x}",
        "created_at": f.T0 + n,
        "revoked": revoked,
    }


def test_migration_0005_gives_every_old_token_a_principal_of_its_own(sql_url: str) -> None:
    """A database at 0004 with tokens of each role (two sharing a name, one revoked) comes out
    with one principal per token: the role admin or operator kept as a global role, member and
    viewer tokens with no team (they never had one), every token still found by its hash."""
    old = [
        _old_token(1, "admin", "admin"),
        _old_token(2, "ops", "operator"),
        _old_token(3, "ci", "member"),
        _old_token(4, "ci", "member", revoked=True),
        _old_token(5, "dashboard", "viewer"),
    ]
    engine = make_engine(sql_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
            # The table as 0004 left it: written out, since tables.py has moved on.
            insert_old = text(
                "INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked) "
                "VALUES (:id, :name, :role, :token_hash, :created_at, :revoked)"
            )
            connection.execute(insert_old, old)
    finally:
        engine.dispose()

    store = SqlStore.open(sql_url)
    try:
        principals = {p.name: p for p in store.principals.listing()}
        tokens = {t.token_hash: t for t in store.tokens.listing()}
    finally:
        store.close()

    assert sorted(principals) == ["admin", "ci", "ci-2", "dashboard", "ops"]
    expected = {
        # name: (kind, global role, the token's id)
        "admin": (PrincipalKind.USER, GlobalRole.ADMIN, old[0]["id"]),
        "ops": (PrincipalKind.SERVICE, GlobalRole.OPERATOR, old[1]["id"]),
        "ci": (PrincipalKind.SERVICE, None, old[2]["id"]),
        "ci-2": (PrincipalKind.SERVICE, None, old[3]["id"]),
        "dashboard": (PrincipalKind.SERVICE, None, old[4]["id"]),
    }
    by_id = {t.id: t for t in tokens.values()}
    for name, (kind, role, token_id) in expected.items():
        p = principals[name]
        assert (p.kind, p.global_role, p.teams, p.disabled) == (kind, role, {}, False), p
        assert (p.email, p.subject) == (None, None)
        assert by_id[token_id].principal_id == p.id
        assert p.created_at == by_id[token_id].created_at
    for row in old:
        token = tokens[row["token_hash"]]
        assert (token.id, token.name, token.created_at) == (
            row["id"],
            row["name"],
            row["created_at"],
        )
        assert token.revoked_at == (row["created_at"] if row["revoked"] else None)
        assert (token.expires_at, token.scope, token.prefix) == (None, None, "")
    assert _schema_diff(sql_url) == []


def test_migration_0005_downgrades_to_one_role_per_token(sql_url: str) -> None:
    """Back at 0004 a token carries its principal's global role, else "viewer" (team roles
    have no counterpart there), and "revoked" from ``revoked_at``."""
    store = SqlStore.open(sql_url)
    try:
        store.principals.add(f.principal(1, global_role=GlobalRole.ADMIN))
        store.principals.add(f.principal(2, global_role=None))
        store.tokens.add(f.token(1, principal_id="p0001"))
        store.tokens.add(f.token(2, principal_id="p0002", revoked_at=f.T0 + 9))
    finally:
        store.close()
    engine = make_engine(sql_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
            rows = connection.execute(
                text("SELECT id, role, revoked FROM api_tokens ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("tok1", "admin", False), ("tok2", "viewer", True)]


# What each appending process runs: connect, say so, wait for the start, append, exit.
_APPENDER = """
import sys
from aiplane.core.audit import AuditEntry, AuditRecord, chain_hash
from aiplane.store.sql import SqlStore

url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SqlStore.open(url, migrate=False)
store.audit.head()  # connected
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    record = AuditRecord(at=float(i), actor=worker, action="test.append", resource=f"n/{i}",
                         outcome="ok")

    def seal(seq: int, prev: str) -> AuditEntry:
        digest = chain_hash(seq, record, prev)
        return AuditEntry(seq, record, prev, digest, "k", "s")

    if i % 2:
        store.audit.append(seal)
    else:
        with store.unit_of_work() as uow:
            uow.audit.append(seal)
store.close()
"""


def test_appends_from_several_processes_never_share_a_seq(sql_url: str) -> None:
    """Replicas of the control plane: three processes append at once to one database."""
    migrate(sql_url)
    processes_n, per_process = 3, 40
    env = {**os.environ, "PYTHONPATH": str(Path(aiplane.__file__).parents[1])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, sql_url, f"worker-{w}", str(per_process)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(processes_n)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        for process in processes:  # every one is connected: start them together
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.close()
        codes = [process.wait(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert codes == [0] * processes_n

    store = SqlStore.open(sql_url)
    try:
        entries = store.audit.entries()
        head = store.audit.head()
    finally:
        store.close()
    assert [e.seq for e in entries] == list(range(1, processes_n * per_process + 1))
    check = verify_chain(entries, lambda _entry: True, head)
    assert check.ok, check


def test_sqlite_answers_the_registrys_hot_lookups_from_indexes(tmp_path: Any) -> None:
    """``name@alias`` (the gateway's path), a version, its history and "trained on X@v" each
    read through an index: the plan of every SELECT the repositories send, not a timing."""
    store = SqlStore.open(f"sqlite:///{tmp_path}/registry.db")
    try:
        store.models.add(r.model())
        store.models.add_version(r.version())
        store.models.set_alias(r.alias(), expected=None)
        store.models.add_move(r.move())
        store.models.add_approval(r.approval())
        sent: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                sent.append((statement, params))

        event.listen(store.engine, "before_cursor_execute", record)
        try:
            assert store.models.get_alias("churn", "production") is not None
            store.models.get_version("churn", 1)
            store.models.versions("churn", limit=10, before=5)
            store.models.moves("churn", alias="production", until=T0 + 1000)
            store.models.approvals("churn", 1, "production")
            assert store.models.trained_on("clicks-eu@3") != []
        finally:
            event.remove(store.engine, "before_cursor_execute", record)
        assert len(sent) == 6
        with store.engine.connect() as connection:
            for statement, params in sent:
                plan = [
                    row[-1]
                    for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                ]
                scans = [step for step in plan if step.startswith("SCAN")]
                assert scans == [], (statement, plan)
    finally:
        store.close()


def test_sqlite_answers_the_endpoints_lookups_from_indexes(tmp_path: Any) -> None:
    """An endpoint by name, a team's endpoints and a range of counters (all endpoints' or
    one's) each read through an index: the plan of every SELECT sent, not a timing."""
    store = SqlStore.open(f"sqlite:///{tmp_path}/endpoints.db")
    try:
        store.endpoints.put(sf.endpoint(), expected_generation=None)
        store.endpoints.add_counts([sf.request_count()])
        sent: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                sent.append((statement, params))

        event.listen(store.engine, "before_cursor_execute", record)
        try:
            assert store.endpoints.find("fraud") is not None
            assert store.endpoints.listing(teams=["research", "vis"]) != []
            since, until = sf.H0, sf.H0 + 3600
            assert store.endpoints.counts(since=since, until=until) != []
            assert (
                store.endpoints.counts(
                    since=since, until=until, endpoint="fraud", teams=["research"]
                )
                != []
            )
        finally:
            event.remove(store.engine, "before_cursor_execute", record)
        assert len(sent) == 4
        with store.engine.connect() as connection:
            for statement, params in sent:
                plan = [
                    row[-1]
                    for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                ]
                scans = [step for step in plan if step.startswith("SCAN")]
                assert scans == [], (statement, plan)
    finally:
        store.close()
