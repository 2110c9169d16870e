"""Endpoints (issue 12): the spec last applied of each, and the hourly request counters per
endpoint and key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Types are written out rather than imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(postgresql.VARCHAR(collation="C"), "postgresql")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=False).with_variant(
        postgresql.JSONB(none_as_null=False), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("name", _id(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_endpoints"),
    )
    op.create_index("ix_endpoints_team_name", "endpoints", ["team", "name"])
    op.create_table(
        "endpoint_request_counts",
        sa.Column("endpoint", _id(), nullable=False),
        sa.Column("principal", _id(), nullable=False),
        sa.Column("token_id", _id(), nullable=False),
        sa.Column("hour", sa.Double(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "endpoint", "principal", "token_id", "hour", name="pk_endpoint_request_counts"
        ),
    )
    op.create_index("ix_endpoint_request_counts_hour", "endpoint_request_counts", ["hour"])


def downgrade() -> None:
    op.drop_table("endpoint_request_counts")
    op.drop_table("endpoints")
