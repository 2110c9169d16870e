"""Usage intervals and cost alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01

Types are written out rather than imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=False).with_variant(
        postgresql.JSONB(none_as_null=False), "postgresql"
    )


def _id() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(postgresql.VARCHAR(collation="C"), "postgresql")


def _serial() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "usage_intervals",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("workload", sa.String(), nullable=False),
        sa.Column("project", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("pool", sa.String(), nullable=False),
        sa.Column("pricing", sa.String(), nullable=False),
        sa.Column("accelerator", sa.String(), nullable=True),
        sa.Column("gpus", sa.Double(), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("usd_per_hour", sa.Double(), nullable=False),
        sa.Column("egress_gb", sa.Double(), nullable=False),
        sa.Column("egress_usd", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_intervals"),
    )
    op.create_index(
        "ix_usage_intervals_run_id_attempt", "usage_intervals", ["run_id", "attempt"], unique=True
    )
    op.create_index("ix_usage_intervals_end_at", "usage_intervals", ["end_at"])
    op.create_index("ix_usage_intervals_team_end_at", "usage_intervals", ["team", "end_at"])

    op.create_table(
        "cost_alerts",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("budget", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("period_start", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cost_alerts"),
        sa.UniqueConstraint("key", name="uq_cost_alerts_key"),
    )
    op.create_index("ix_cost_alerts_status_id", "cost_alerts", ["status", "id"])


def downgrade() -> None:
    op.drop_table("cost_alerts")
    op.drop_table("usage_intervals")
