"""Datasets in SQL: one aggregate over ``datasets``, ``dataset_versions`` and their
``dataset_replicas`` (one row per site, so that ``add_replica`` adds a row rather than rewriting
the version)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.registry.records import Dataset, DatasetVersion, Replica
from aiplane.store import registry_codec as rc
from aiplane.store.sql.registry_tables import DatasetReplicaRow, DatasetRow, DatasetVersionRow
from aiplane.store.sql.session import Scope, insert_new, insert_where
from aiplane.store.sql.tables import table_of

_DATASETS = table_of(DatasetRow)
_VERSIONS = table_of(DatasetVersionRow)
_REPLICAS = table_of(DatasetReplicaRow)


def _replica_values(dataset: str, version: int, replica: Replica) -> dict[str, Any]:
    return {"dataset": dataset, "version": version, **rc.replica_to(replica)}


def _with_replicas(session: Session, rows: Sequence[Any]) -> list[DatasetVersion]:
    """``rows`` of ``dataset_versions`` with their replicas, read in one query."""
    if not rows:
        return []
    keys = [(row["dataset"], row["version"]) for row in rows]
    r = _REPLICAS.c
    stmt = select(_REPLICAS).where(tuple_(r.dataset, r.version).in_(keys))
    replicas: dict[tuple[str, int], list[Replica]] = defaultdict(list)
    for found in session.execute(stmt).mappings():
        replicas[(found["dataset"], found["version"])].append(rc.replica_from(found))
    return [
        rc.dataset_version_from(row, replicas.get((row["dataset"], row["version"]), []))
        for row in rows
    ]


class SqlDatasetRepository:
    def __init__(self, scope: Scope, write_scope: Scope | None = None) -> None:
        """``write_scope``: for the writes that read first (see ``SqlModelRepository``)."""
        self._scope = scope
        self._write_scope = write_scope if write_scope is not None else scope

    def add(self, dataset: Dataset) -> None:
        with self._scope() as session:
            if not insert_new(session, _DATASETS, rc.dataset_to(dataset)):
                raise ConflictError(f"dataset {dataset.name} exists already")

    def get(self, name: str) -> Dataset:
        stmt = select(_DATASETS).where(_DATASETS.c.name == name)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"dataset {name} not found")
        return rc.dataset_from(row)

    def listing(self, teams: Collection[str] | None = None) -> list[Dataset]:
        if teams is not None and not teams:
            return []
        stmt = select(_DATASETS).order_by(_DATASETS.c.name)
        if teams is not None:
            stmt = stmt.where(_DATASETS.c.team.in_(sorted(teams)))
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.dataset_from(row) for row in rows]

    def add_version(self, version: DatasetVersion) -> None:
        # As a model version: one conditional INSERT (the dataset exists, the number is free).
        known = select(_DATASETS.c.name).where(_DATASETS.c.name == version.dataset).exists()
        with self._write_scope() as session:
            if not insert_where(session, _VERSIONS, rc.dataset_version_to(version), known):
                if session.execute(select(known)).scalar():
                    raise ConflictError(f"{version.ref} exists already")
                raise NotFoundError(f"dataset {version.dataset} not found")
            # One replica per site, the last given winning, as add_replica would leave it.
            by_site = {r.site: r for r in version.replicas}
            if by_site:
                session.execute(
                    insert(_REPLICAS),
                    [
                        _replica_values(version.dataset, version.version, r)
                        for r in by_site.values()
                    ],
                )

    def get_version(self, dataset: str, version: int) -> DatasetVersion:
        stmt = select(_VERSIONS).where(
            _VERSIONS.c.dataset == dataset, _VERSIONS.c.version == version
        )
        with self._scope() as session:
            found = _with_replicas(session, session.execute(stmt).mappings().all())
        if not found:
            raise NotFoundError(f"dataset version {dataset}@{version} not found")
        return found[0]

    def latest_version(self, dataset: str) -> DatasetVersion | None:
        found = self.versions(dataset, limit=1)
        return found[0] if found else None

    def versions(
        self, dataset: str, *, limit: int = 100, before: int | None = None
    ) -> list[DatasetVersion]:
        if limit <= 0:
            return []
        stmt = (
            select(_VERSIONS)
            .where(_VERSIONS.c.dataset == dataset)
            .order_by(_VERSIONS.c.version.desc())
            .limit(limit)
        )
        if before is not None:
            stmt = stmt.where(_VERSIONS.c.version < before)
        with self._scope() as session:
            return _with_replicas(session, session.execute(stmt).mappings().all())

    def by_artifact(self, dataset: str, artifact: str) -> DatasetVersion | None:
        stmt = (
            select(_VERSIONS)
            .where(_VERSIONS.c.dataset == dataset, _VERSIONS.c.artifact == artifact)
            .order_by(_VERSIONS.c.version.desc())
            .limit(1)
        )
        with self._scope() as session:
            found = _with_replicas(session, session.execute(stmt).mappings().all())
        return found[0] if found else None

    def add_replica(self, dataset: str, version: int, replica: Replica) -> None:
        v = _VERSIONS.c
        known = select(v.version).where(v.dataset == dataset, v.version == version)
        values = _replica_values(dataset, version, replica)
        with self._write_scope() as session:
            if session.execute(known).first() is None:
                raise NotFoundError(f"dataset version {dataset}@{version} not found")
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(_REPLICAS).values(values)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["dataset", "version", "site"],
                    set_={"uri": stmt.excluded.uri, "added_at": stmt.excluded.added_at},
                )
            )

    def all_latest(self) -> list[DatasetVersion]:
        v = _VERSIONS.c
        newest = (
            select(v.dataset, func.max(v.version).label("version")).group_by(v.dataset).subquery()
        )
        stmt = (
            select(_VERSIONS)
            .join(newest, (newest.c.dataset == v.dataset) & (newest.c.version == v.version))
            .order_by(v.dataset)
        )
        with self._scope() as session:
            return _with_replicas(session, session.execute(stmt).mappings().all())
