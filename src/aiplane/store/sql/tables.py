"""Table declarations: the schema that ``migrations/`` must reproduce exactly.

A test compares these models with the database after ``alembic upgrade head``; change both in the
same commit, with a new migration.

Column types are chosen to behave the same on SQLite and PostgreSQL: text columns have no length
(SQLite ignores lengths, so a limit would only ever fail on PostgreSQL), times are epoch seconds
as double precision, and JSON columns hold ``aiplane.core.codec`` dictionaries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

# Explicit constraint names, so that migrations can refer to them and autogenerate is stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_type(*, nullable: bool = False) -> TypeEngine[Any]:
    # JSONB on PostgreSQL: smaller and indexable. ``none_as_null`` stores Python None as SQL
    # NULL rather than the JSON literal ``null``, so "no placement" is an ordinary NULL.
    return JSON(none_as_null=nullable).with_variant(
        postgresql.JSONB(none_as_null=nullable), "postgresql"
    )


def id_type() -> TypeEngine[str]:
    # Ids sort by creation time and listings page by them, so their order must be bytewise on
    # every database; PostgreSQL would otherwise sort by the database's locale.
    return String().with_variant(postgresql.VARCHAR(collation="C"), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The model's ``Table``, for Core statements (the ORM types ``__table__`` loosely)."""
    return model.metadata.tables[model.__tablename__]


class PrincipalRow(Base):
    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String)
    global_role: Mapped[str | None] = mapped_column(String)
    email: Mapped[str | None] = mapped_column(String)
    # E-mail addresses match case-insensitively; a lowered copy gives that a unique index
    # that works alike on SQLite and PostgreSQL (an expression index would not compare).
    email_lower: Mapped[str | None] = mapped_column(String, unique=True)
    subject: Mapped[str | None] = mapped_column(String, unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Double)


class TeamMemberRow(Base):
    """A principal's role in one team: part of the principal's aggregate."""

    __tablename__ = "team_members"
    __table_args__ = (
        # Serves ``members(team)``; the primary key serves a principal's own rows.
        Index("ix_team_members_team", "team"),
    )

    principal_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    team: Mapped[str] = mapped_column(String, primary_key=True)
    role: Mapped[str] = mapped_column(String)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    # No foreign key: like the memory member, the store keeps a token whatever its principal;
    # authentication refuses a token whose principal is unknown.
    principal_id: Mapped[str] = mapped_column(id_type(), index=True)
    name: Mapped[str] = mapped_column(String)
    token_hash: Mapped[str] = mapped_column(String, unique=True, index=True)
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float | None] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)
    # Both set, or both NULL: a workload's token, narrowed to one job of one team.
    scope_team: Mapped[str | None] = mapped_column(String)
    scope_job_id: Mapped[str | None] = mapped_column(id_type())
    prefix: Mapped[str] = mapped_column(String, server_default="")


class AuditLogRow(Base):
    """One entry of the hash-chained audit log (``core/audit.py``); rows are only inserted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Serve ``search``: the newest entries of one actor, and those since a time.
        Index("ix_audit_log_actor_seq", "actor", "seq"),
        Index("ix_audit_log_at", "at"),
    )

    # Assigned by the append (head + 1) under the append lock, never by the database.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    resource: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String)
    team: Mapped[str | None] = mapped_column(String)
    # The canonical JSON text (``core/audit.py``), not JSON/JSONB: the chain hash is taken
    # over Python values, and JSONB does not keep them (1e16 comes back an int, -0.0 as 0.0).
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String)
    hash: Mapped[str] = mapped_column(String)
    key_id: Mapped[str] = mapped_column(String)
    signature: Mapped[str] = mapped_column(String)


class AuditHeadRow(Base):
    """The newest entry's place in the chain, kept beside the log (one row, id 1): what a
    truncated tail is checked against, and what an append reads instead of MAX(seq)."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String)


class FleetVersionRow(Base):
    __tablename__ = "fleet_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document: Mapped[dict[str, Any]] = mapped_column(json_type())
    applied_at: Mapped[float] = mapped_column(Double)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Serves "WHERE team = ? ORDER BY id DESC" without a sort step.
        Index("ix_jobs_team_id", "team", "id"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    # name and team are copies of workload fields, kept as columns to filter on.
    name: Mapped[str] = mapped_column(String)
    team: Mapped[str] = mapped_column(String)
    submitted_at: Mapped[float] = mapped_column(Double)
    submitted_by: Mapped[str] = mapped_column(String)
    workload: Mapped[dict[str, Any]] = mapped_column(json_type())


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        # The join from a page of jobs to their runs, with the state check read from the index.
        Index("ix_runs_job_id_state", "job_id", "state"),
        # Serves runs_in_states and "WHERE state = ? ORDER BY job_id DESC" (the queue listing)
        # without visiting runs in other states.
        Index("ix_runs_state_job_id", "state", "job_id"),
        # Serves runs_updated_since, the scheduler's incremental snapshot.
        Index("ix_runs_updated_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    job_id: Mapped[str] = mapped_column(id_type(), ForeignKey("jobs.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String)
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    started_at: Mapped[float | None] = mapped_column(Double)
    finished_at: Mapped[float | None] = mapped_column(Double)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    placement: Mapped[dict[str, Any] | None] = mapped_column(json_type(nullable=True))
    handles: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    attained_gpu_s: Mapped[float] = mapped_column(Double, server_default="0")
    checkpointed_hours: Mapped[float] = mapped_column(Double, server_default="0")
    last_checkpoint_at: Mapped[float | None] = mapped_column(Double)
    checkpoint_uri: Mapped[str | None] = mapped_column(Text)
    checkpoint_saved_at: Mapped[float | None] = mapped_column(Double)
    # Counts the row's writes: update_run's compare-and-set (see store/base.py).
    revision: Mapped[int] = mapped_column(Integer, server_default="0")


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        # Serves "WHERE job_id = ? ORDER BY id".
        Index("ix_events_job_id_id", "job_id", "id"),
    )

    # BIGINT on PostgreSQL because events only grow; SQLite needs exactly INTEGER for its rowid
    # alias to autoincrement.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[float] = mapped_column(Double)
    kind: Mapped[str] = mapped_column(String)
    job_id: Mapped[str | None] = mapped_column(id_type())
    run_id: Mapped[str | None] = mapped_column(id_type())
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(json_type())


class UsageRow(Base):
    __tablename__ = "usage_intervals"
    __table_args__ = (
        # One interval per attempt: a second recording of the same attempt is refused.
        Index("ix_usage_intervals_run_id_attempt", "run_id", "attempt", unique=True),
        # Serves the period query "start_at < :end AND end_at > :start", which reports run
        # for recent periods: most rows end before them and the index skips them.
        Index("ix_usage_intervals_end_at", "end_at"),
        Index("ix_usage_intervals_team_end_at", "team", "end_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(id_type())
    job_id: Mapped[str] = mapped_column(id_type())
    attempt: Mapped[int] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String)
    workload: Mapped[str] = mapped_column(String)
    project: Mapped[str | None] = mapped_column(String)
    model: Mapped[str | None] = mapped_column(String)
    site: Mapped[str] = mapped_column(String)
    pool: Mapped[str] = mapped_column(String)
    pricing: Mapped[str] = mapped_column(String)
    accelerator: Mapped[str | None] = mapped_column(String)
    gpus: Mapped[float] = mapped_column(Double)
    start_at: Mapped[float] = mapped_column(Double)
    end_at: Mapped[float] = mapped_column(Double)
    usd_per_hour: Mapped[float] = mapped_column(Double)
    egress_gb: Mapped[float] = mapped_column(Double)
    egress_usd: Mapped[float] = mapped_column(Double)
    outcome: Mapped[str] = mapped_column(String)


class CostAlertRow(Base):
    __tablename__ = "cost_alerts"
    __table_args__ = (Index("ix_cost_alerts_status_id", "status", "id"),)

    # The surrogate id orders alerts; ``key`` (budget, rule, period) makes them unique.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String, unique=True)
    budget: Mapped[str] = mapped_column(String)
    rule: Mapped[str] = mapped_column(String)
    period_start: Mapped[float] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    status: Mapped[str] = mapped_column(String)
    url: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[float] = mapped_column(Double)
    delivered_at: Mapped[float | None] = mapped_column(Double)
    last_error: Mapped[str | None] = mapped_column(Text)


class IdempotencyKeyRow(Base):
    """A submission's idempotency key (decision 0034): one per principal and key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # Serves the purge of keys past their time.
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    principal_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    # Bytewise like ids: two keys that differ only in case are two keys on every database.
    key: Mapped[str] = mapped_column(id_type(), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String)
    # No foreign key: the key is claimed before its job is added, in the same unit of work.
    job_id: Mapped[str] = mapped_column(id_type())
    created_at: Mapped[float] = mapped_column(Double)


# The registry's and the endpoints' tables live in modules of their own (this one would pass
# 400 lines); importing them here puts them on ``Base.metadata``, which the migrations are
# compared with. Last, because they import ``Base`` and the column types from this module.
from aiplane.store.sql import registry_tables as registry_tables  # noqa: E402
from aiplane.store.sql import serving_tables as serving_tables  # noqa: E402
