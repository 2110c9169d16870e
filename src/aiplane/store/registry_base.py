"""The registry's repository protocols (part of the store's, see ``base.py``): models with
their versions, aliases, alias moves, approvals, policies and deployments; datasets with their
versions and replicas; manifests by digest and the teams' signing keys."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from aiplane.core.registry.manifest import Manifest
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
    PolicyScope,
    Replica,
    TeamKey,
)


class ModelRepository(Protocol):
    """Registered models with their versions, aliases, alias moves, approvals, promotion
    policies and deployments: one aggregate."""

    def add(self, model: Model) -> None:
        """Raises ConflictError when the name is taken."""
        ...

    def get(self, name: str) -> Model:
        """Raises NotFoundError."""
        ...

    def update(self, model: Model) -> None:
        """Replace the model with its name (description, sharing). Raises NotFoundError."""
        ...

    def listing(self, teams: Collection[str] | None = None) -> list[Model]:
        """Every model (of ``teams`` when given; an empty collection matches nothing), by
        name."""
        ...

    def add_version(self, version: ModelVersion) -> None:
        """Raises ConflictError when the model has that version number already (two
        registrations that race: the loser takes the next number), NotFoundError for an
        unknown model."""
        ...

    def get_version(self, model: str, version: int) -> ModelVersion:
        """Raises NotFoundError."""
        ...

    def latest_version(self, model: str) -> ModelVersion | None: ...

    def versions(
        self, model: str, *, limit: int = 100, before: int | None = None
    ) -> list[ModelVersion]:
        """Newest first; ``before`` an exclusive version-number cursor."""
        ...

    def update_version(self, version: ModelVersion) -> None:
        """Replace tags, metrics and description of a stored version (its number, artifact,
        signature and lineage never change). Raises NotFoundError."""
        ...

    def version_count(self) -> int:
        """Versions over all models."""
        ...

    def trained_on(self, dataset_ref: str) -> list[ModelVersion]:
        """The versions whose ``inputs`` include ``dataset_ref`` ("name@N"), by model and
        version."""
        ...

    def aliases(self, model: str) -> list[Alias]:
        """The model's aliases, by name."""
        ...

    def get_alias(self, model: str, name: str) -> Alias | None: ...

    def set_alias(self, alias: Alias, expected: int | None) -> None:
        """Point the alias at ``alias.version`` if it holds ``expected`` now (None: it does not
        exist yet), else ConflictError: two promotions that race never both win."""
        ...

    def delete_alias(self, model: str, name: str, expected: int) -> None:
        """Remove the alias if it holds ``expected``, else ConflictError."""
        ...

    def add_move(self, move: AliasMove) -> None: ...

    def moves(
        self, model: str, *, alias: str | None = None, until: float | None = None
    ) -> list[AliasMove]:
        """The model's alias moves (of one alias; made at or before ``until``), oldest first."""
        ...

    def add_approval(self, approval: Approval) -> None:
        """Raises ConflictError when that principal approved that version for that alias
        already."""
        ...

    def approvals(self, model: str, version: int, alias: str | None = None) -> list[Approval]:
        """Oldest first."""
        ...

    def put_policy(self, policy: PolicyRecord, expected_revision: int | None) -> None:
        """Store a policy if the stored one has ``expected_revision`` (None: there is none),
        else ConflictError."""
        ...

    def get_policy(self, scope: PolicyScope, name: str) -> PolicyRecord | None: ...

    def add_deployment(self, deployment: Deployment) -> None: ...

    def deployments(self, model: str, version: int | None = None) -> list[Deployment]:
        """Oldest first."""
        ...


class DatasetRepository(Protocol):
    """Datasets with their versions and each version's replicas: one aggregate."""

    def add(self, dataset: Dataset) -> None:
        """Raises ConflictError when the name is taken."""
        ...

    def get(self, name: str) -> Dataset:
        """Raises NotFoundError."""
        ...

    def listing(self, teams: Collection[str] | None = None) -> list[Dataset]:
        """By name; ``teams`` as for models."""
        ...

    def add_version(self, version: DatasetVersion) -> None:
        """With its replicas. Raises ConflictError on a taken number, NotFoundError for an
        unknown dataset."""
        ...

    def get_version(self, dataset: str, version: int) -> DatasetVersion:
        """With its replicas. Raises NotFoundError."""
        ...

    def latest_version(self, dataset: str) -> DatasetVersion | None: ...

    def versions(
        self, dataset: str, *, limit: int = 100, before: int | None = None
    ) -> list[DatasetVersion]:
        """Newest first."""
        ...

    def by_artifact(self, dataset: str, artifact: str) -> DatasetVersion | None:
        """The newest version of ``dataset`` with that manifest digest: registering the same
        bytes again gives back the version they are."""
        ...

    def add_replica(self, dataset: str, version: int, replica: Replica) -> None:
        """Add or replace the version's replica at ``replica.site``. Raises NotFoundError."""
        ...

    def all_latest(self) -> list[DatasetVersion]:
        """Every dataset's newest version, by name: what placement weighs for bare names."""
        ...


class ArtifactRepository(Protocol):
    """Manifests by digest (the metadata of the content-addressed store), and the teams'
    public signing keys."""

    def put_manifest(self, manifest: Manifest) -> bool:
        """Store it under its digest; False when it was there already (same digest, same
        entries)."""
        ...

    def get_manifest(self, digest: str) -> Manifest:
        """Raises NotFoundError."""
        ...

    def add_key(self, key: TeamKey) -> None:
        """Raises ConflictError when the key id is stored already."""
        ...

    def keys(self, team: str | None = None) -> list[TeamKey]:
        """The keys (of one team), oldest first, revoked ones included."""
        ...

    def get_key(self, key_id: str) -> TeamKey:
        """Raises NotFoundError."""
        ...
