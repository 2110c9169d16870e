"""Run revisions for compare-and-set, and when the resumable checkpoint was saved.

Revision ID: 0004
Revises: 0003
Create Date: 2025-07-08

Types are written out rather than imported from ``tables.py`` (see 0001). Existing rows start
at revision 0: a revision only has to change on every write, not count from the beginning.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("checkpoint_saved_at", sa.Double(), nullable=True))
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("revision")
        batch.drop_column("checkpoint_saved_at")
