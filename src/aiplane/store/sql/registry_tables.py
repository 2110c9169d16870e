"""The registry's tables (migration 0007): models with their versions, the datasets a version
was trained on, aliases and their moves, approvals, policies, deployments; datasets with their
versions and replicas; artifact manifests and the teams' public keys.

Declared on ``tables.Base`` (``tables.py`` imports this module, so the metadata that the
migrations are compared with holds these tables too). Mappings and lists are JSON columns,
except what is looked up: a version's dataset inputs and a dataset version's replicas are rows
of child tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiplane.store.sql.tables import Base, id_type, json_type


def _serial() -> Any:
    # As the events' id: BIGINT on PostgreSQL, exactly INTEGER for SQLite's rowid alias.
    return BigInteger().with_variant(Integer, "sqlite")


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (Index("ix_models_team_name", "team", "name"),)

    name: Mapped[str] = mapped_column(id_type(), primary_key=True)
    team: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    shared_with: Mapped[list[str]] = mapped_column(json_type())


class ModelVersionRow(Base):
    """One registered version; the primary key (model, version) serves ``get_version``, the
    newest-first listing and the compare-and-set of a registration (a taken number)."""

    __tablename__ = "model_versions"
    __table_args__ = (ForeignKeyConstraint(["model"], ["models.name"], ondelete="CASCADE"),)

    model: Mapped[str] = mapped_column(id_type(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    artifact: Mapped[str] = mapped_column(String)
    flavor: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str] = mapped_column(String)
    signature: Mapped[dict[str, Any] | None] = mapped_column(json_type(nullable=True))
    io_signature: Mapped[dict[str, Any]] = mapped_column(json_type())
    metrics: Mapped[dict[str, Any]] = mapped_column(json_type())
    params: Mapped[dict[str, Any]] = mapped_column(json_type())
    tags: Mapped[dict[str, Any]] = mapped_column(json_type())
    run: Mapped[dict[str, Any] | None] = mapped_column(json_type(nullable=True))
    # Also in ``model_version_inputs``, one row each, for ``trained_on``; kept here in the
    # version's own order, which the rows do not keep.
    inputs: Mapped[list[str]] = mapped_column(json_type())
    description: Mapped[str] = mapped_column(Text)


class ModelVersionInputRow(Base):
    """A dataset version that a model version was made from."""

    __tablename__ = "model_version_inputs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["model", "version"],
            ["model_versions.model", "model_versions.version"],
            ondelete="CASCADE",
        ),
        # Serves ``trained_on(dataset_ref)`` ("which models were trained on X@v?").
        Index("ix_model_version_inputs_dataset_ref", "dataset_ref"),
    )

    model: Mapped[str] = mapped_column(id_type(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dataset_ref: Mapped[str] = mapped_column(id_type(), primary_key=True)


class ModelAliasRow(Base):
    """The primary key (model, name) is the gateway's hot path: ``name@alias``."""

    __tablename__ = "model_aliases"

    model: Mapped[str] = mapped_column(id_type(), primary_key=True)
    name: Mapped[str] = mapped_column(id_type(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    moved_at: Mapped[float] = mapped_column(Double)
    moved_by: Mapped[str] = mapped_column(String)


class AliasMoveRow(Base):
    """The production history; the serial id orders moves made at one time."""

    __tablename__ = "alias_moves"
    __table_args__ = (
        # Serves ``moves(model, alias=..., until=...)``: "what was in production at T".
        Index("ix_alias_moves_model_alias_at", "model", "alias", "at"),
        Index("ix_alias_moves_model_at", "model", "at"),
    )

    id: Mapped[int] = mapped_column(_serial(), primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(id_type())
    alias: Mapped[str] = mapped_column(id_type())
    version: Mapped[int | None] = mapped_column(Integer)
    previous: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Double)
    by: Mapped[str] = mapped_column(String)
    approvals: Mapped[list[str]] = mapped_column(json_type())
    move_id: Mapped[str] = mapped_column(String)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        # One approval per principal, version and alias; serves ``approvals(model, version)``.
        Index(
            "ix_approvals_model_version_alias_by", "model", "version", "alias", "by", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(_serial(), primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(id_type())
    version: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str] = mapped_column(id_type())
    by: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Double)
    comment: Mapped[str] = mapped_column(Text)


class PolicyRow(Base):
    __tablename__ = "registry_policies"

    scope: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(id_type(), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(json_type())
    # The compare-and-set of ``put_policy``.
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Double)
    updated_by: Mapped[str] = mapped_column(String)


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_model_version", "model", "version"),)

    id: Mapped[int] = mapped_column(_serial(), primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(id_type())
    version: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Double)
    by: Mapped[str] = mapped_column(String)
    verified: Mapped[bool] = mapped_column(Boolean)


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_team_name", "team", "name"),)

    name: Mapped[str] = mapped_column(id_type(), primary_key=True)
    team: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str] = mapped_column(String)
    jurisdiction: Mapped[str | None] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        ForeignKeyConstraint(["dataset"], ["datasets.name"], ondelete="CASCADE"),
        # Serves ``by_artifact``: registering the same bytes again.
        Index("ix_dataset_versions_dataset_artifact", "dataset", "artifact"),
    )

    dataset: Mapped[str] = mapped_column(id_type(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    artifact: Mapped[str] = mapped_column(String)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str] = mapped_column(String)
    jurisdiction: Mapped[str | None] = mapped_column(String)
    tables: Mapped[list[dict[str, Any]]] = mapped_column(json_type())


class DatasetReplicaRow(Base):
    """Where a copy of a dataset version lies: one per site (``add_replica`` replaces it)."""

    __tablename__ = "dataset_replicas"
    __table_args__ = (
        ForeignKeyConstraint(
            ["dataset", "version"],
            ["dataset_versions.dataset", "dataset_versions.version"],
            ondelete="CASCADE",
        ),
    )

    dataset: Mapped[str] = mapped_column(id_type(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    site: Mapped[str] = mapped_column(id_type(), primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    added_at: Mapped[float] = mapped_column(Double)


class ArtifactManifestRow(Base):
    """A manifest under its digest: ``entries`` is its canonical list of [path, sha256,
    size], so the digest can be recomputed from the row."""

    __tablename__ = "artifact_manifests"

    digest: Mapped[str] = mapped_column(String, primary_key=True)
    entries: Mapped[list[Any]] = mapped_column(json_type())
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)


class TeamKeyRow(Base):
    __tablename__ = "team_keys"
    __table_args__ = (Index("ix_team_keys_team_created_at", "team", "created_at"),)

    key_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    team: Mapped[str] = mapped_column(String)
    algorithm: Mapped[str] = mapped_column(String)
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)
