"""Run progress: attained service, checkpointed work, the latest checkpoint; runs by update.

Revision ID: 0003
Revises: 0002
Create Date: 2025-07-01

Types are written out rather than imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("attained_gpu_s", sa.Double(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("checkpointed_hours", sa.Double(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_checkpoint_at", sa.Double(), nullable=True))
        batch.add_column(sa.Column("checkpoint_uri", sa.Text(), nullable=True))
    op.create_index("ix_runs_updated_at", "runs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_updated_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("checkpoint_uri")
        batch.drop_column("last_checkpoint_at")
        batch.drop_column("checkpointed_hours")
        batch.drop_column("attained_gpu_s")
