"""The model and dataset registry (issue 11): models, versions and their dataset inputs,
aliases and their moves, approvals, policies, deployments; datasets, versions and replicas;
artifact manifests and team keys.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Types are written out rather than imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = (
    "team_keys",
    "artifact_manifests",
    "dataset_replicas",
    "dataset_versions",
    "datasets",
    "deployments",
    "registry_policies",
    "approvals",
    "alias_moves",
    "model_aliases",
    "model_version_inputs",
    "model_versions",
    "models",
)


def _id() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(postgresql.VARCHAR(collation="C"), "postgresql")


def _json(*, nullable: bool = False) -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=nullable).with_variant(
        postgresql.JSONB(none_as_null=nullable), "postgresql"
    )


def _serial() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _models() -> None:
    op.create_table(
        "models",
        sa.Column("name", _id(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("shared_with", _json(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_models"),
    )
    op.create_index("ix_models_team_name", "models", ["team", "name"])
    op.create_table(
        "model_versions",
        sa.Column("model", _id(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("artifact", sa.String(), nullable=False),
        sa.Column("flavor", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("signature", _json(nullable=True), nullable=True),
        sa.Column("io_signature", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("run", _json(nullable=True), nullable=True),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name="fk_model_versions_model_models", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model", "version", name="pk_model_versions"),
    )
    op.create_table(
        "model_version_inputs",
        sa.Column("model", _id(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dataset_ref", _id(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model", "version"],
            ["model_versions.model", "model_versions.version"],
            name="fk_model_version_inputs_model_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model", "version", "dataset_ref", name="pk_model_version_inputs"),
    )
    op.create_index("ix_model_version_inputs_dataset_ref", "model_version_inputs", ["dataset_ref"])
    op.create_table(
        "model_aliases",
        sa.Column("model", _id(), nullable=False),
        sa.Column("name", _id(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("moved_at", sa.Double(), nullable=False),
        sa.Column("moved_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("model", "name", name="pk_model_aliases"),
    )
    op.create_table(
        "alias_moves",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("model", _id(), nullable=False),
        sa.Column("alias", _id(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("approvals", _json(), nullable=False),
        sa.Column("move_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_moves"),
    )
    op.create_index("ix_alias_moves_model_alias_at", "alias_moves", ["model", "alias", "at"])
    op.create_index("ix_alias_moves_model_at", "alias_moves", ["model", "at"])
    op.create_table(
        "approvals",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("model", _id(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("alias", _id(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
    )
    op.create_index(
        "ix_approvals_model_version_alias_by",
        "approvals",
        ["model", "version", "alias", "by"],
        unique=True,
    )
    op.create_table(
        "registry_policies",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("name", _id(), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name", name="pk_registry_policies"),
    )
    op.create_table(
        "deployments",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("model", _id(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
    )
    op.create_index("ix_deployments_model_version", "deployments", ["model", "version"])


def _datasets() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", _id(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("jurisdiction", sa.String(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_datasets"),
    )
    op.create_index("ix_datasets_team_name", "datasets", ["team", "name"])
    op.create_table(
        "dataset_versions",
        sa.Column("dataset", _id(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("artifact", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("jurisdiction", sa.String(), nullable=True),
        sa.Column("tables", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"],
            ["datasets.name"],
            name="fk_dataset_versions_dataset_datasets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset", "version", name="pk_dataset_versions"),
    )
    op.create_index(
        "ix_dataset_versions_dataset_artifact", "dataset_versions", ["dataset", "artifact"]
    )
    op.create_table(
        "dataset_replicas",
        sa.Column("dataset", _id(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("site", _id(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("added_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset", "version"],
            ["dataset_versions.dataset", "dataset_versions.version"],
            name="fk_dataset_replicas_dataset_dataset_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset", "version", "site", name="pk_dataset_replicas"),
    )


def _artifacts() -> None:
    op.create_table(
        "artifact_manifests",
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("entries", _json(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_artifact_manifests"),
    )
    op.create_table(
        "team_keys",
        sa.Column("key_id", _id(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("algorithm", sa.String(), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_team_keys"),
    )
    op.create_index("ix_team_keys_team_created_at", "team_keys", ["team", "created_at"])


def upgrade() -> None:
    _models()
    _datasets()
    _artifacts()


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
