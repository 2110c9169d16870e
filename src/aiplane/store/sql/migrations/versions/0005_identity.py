"""Identity and audit: principals with team memberships, tokens that belong to them, the
hash-chained audit log and its head.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Types are written out rather than imported from ``tables.py`` (see 0001).

Every existing token becomes a principal of its own, so that no token that worked before stops
working (decision 0025): the principal takes the token's name (made unique with "-2", "-3",
... where two tokens shared one), is a user for the token named "admin" and a service account
otherwise, and gets the global role admin or operator from the token's role. Member and viewer
tokens had no team, so their principals get no membership: they can authenticate, and see
nothing until an owner or an admin adds them to a team. A revoked token's time of revocation
was never stored; ``revoked_at`` takes its creation time. The plaintext prefix of an old token
is unknown: it stays empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The old roles that carried a global one; "member" and "viewer" map to none.
_GLOBAL_ROLES = {"admin": "admin", "operator": "operator"}
_ADMIN_TOKEN_NAME = "admin"  # noqa: S105 (a name, not a secret)


def _id() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(postgresql.VARCHAR(collation="C"), "postgresql")


def _unique(wanted: str, taken: set[str]) -> str:
    chosen, n = wanted, 1
    while chosen in taken:
        n += 1
        chosen = f"{wanted}-{n}"
    taken.add(chosen)
    return chosen


def _create_tables() -> None:
    op.create_table(
        "principals",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("global_role", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("email_lower", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_principals"),
        sa.UniqueConstraint("name", name="uq_principals_name"),
        sa.UniqueConstraint("email_lower", name="uq_principals_email_lower"),
        sa.UniqueConstraint("subject", name="uq_principals_subject"),
    )
    op.create_table(
        "team_members",
        sa.Column("principal_id", _id(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name="fk_team_members_principal_id_principals",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("principal_id", "team", name="pk_team_members"),
    )
    op.create_index("ix_team_members_team", "team_members", ["team"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("resource", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("team", sa.String(), nullable=True),
        # Canonical JSON text, not JSON/JSONB: see ``tables.AuditLogRow.detail``.
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor", "seq"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )


def _move_tokens_to_principals() -> None:
    """One principal per existing token (see the module docstring)."""
    connection = op.get_bind()
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("role", sa.String()),
        sa.column("created_at", sa.Double()),
        sa.column("revoked", sa.Boolean()),
        sa.column("principal_id", sa.String()),
        sa.column("revoked_at", sa.Double()),
    )
    principals = sa.table(
        "principals",
        sa.column("id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("global_role", sa.String()),
        sa.column("email", sa.String()),
        sa.column("email_lower", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("disabled", sa.Boolean()),
        sa.column("created_at", sa.Double()),
    )
    rows = connection.execute(
        sa.select(
            tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.created_at, tokens.c.revoked
        ).order_by(tokens.c.created_at, tokens.c.id)
    ).all()
    names: set[str] = set()
    ids: set[str] = set()
    for row in rows:
        principal_id = _unique("p-" + row.id.removeprefix("tok-"), ids)
        connection.execute(
            sa.insert(principals).values(
                id=principal_id,
                name=_unique(row.name, names),
                kind="user" if row.name == _ADMIN_TOKEN_NAME else "service",
                global_role=_GLOBAL_ROLES.get(row.role),
                email=None,
                email_lower=None,
                subject=None,
                disabled=False,
                created_at=row.created_at,
            )
        )
        connection.execute(
            sa.update(tokens)
            .where(tokens.c.id == row.id)
            .values(
                principal_id=principal_id,
                revoked_at=row.created_at if row.revoked else None,
            )
        )


def upgrade() -> None:
    _create_tables()
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("principal_id", _id(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.Double(), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.Double(), nullable=True))
        batch.add_column(sa.Column("scope_team", sa.String(), nullable=True))
        batch.add_column(sa.Column("scope_job_id", _id(), nullable=True))
        batch.add_column(sa.Column("prefix", sa.String(), nullable=False, server_default=""))
    _move_tokens_to_principals()
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("principal_id", existing_type=_id(), nullable=False)
        batch.drop_column("role")
        batch.drop_column("revoked")
        batch.create_index("ix_api_tokens_principal_id", ["principal_id"])


def downgrade() -> None:
    """Back to one role per token: the principal's global role, else "viewer" (the least a
    token could hold; team roles have no counterpart). Tokens of one principal keep its role;
    expiry and scope are lost."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(), nullable=False, server_default="viewer"))
        batch.add_column(
            sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE api_tokens SET "
        "role = COALESCE((SELECT p.global_role FROM principals p "
        "WHERE p.id = api_tokens.principal_id), 'viewer'), "
        "revoked = (revoked_at IS NOT NULL)"
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_principal_id")
        batch.drop_column("prefix")
        batch.drop_column("scope_job_id")
        batch.drop_column("scope_team")
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
        batch.drop_column("principal_id")
        # 0001 declared these without server defaults.
        batch.alter_column("role", existing_type=sa.String(), server_default=None)
        batch.alter_column("revoked", existing_type=sa.Boolean(), server_default=None)
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_seq", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_team_members_team", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("principals")
