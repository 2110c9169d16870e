"""Usage intervals name the endpoint a run is a replica of (issue 12, decision 0060).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Types are written out rather than imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_intervals") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_intervals") as batch:
        batch.drop_column("endpoint")
