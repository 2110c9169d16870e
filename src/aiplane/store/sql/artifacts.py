"""Artifact manifests and team signing keys in SQL: the metadata of the content-addressed
store (the bytes live in the artifact store, under their own digests)."""

from __future__ import annotations

from sqlalchemy import select

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.records import TeamKey
from aiplane.store import registry_codec as rc
from aiplane.store.sql.registry_tables import ArtifactManifestRow, TeamKeyRow
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import table_of

_MANIFESTS = table_of(ArtifactManifestRow)
_KEYS = table_of(TeamKeyRow)


class SqlArtifactRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def put_manifest(self, manifest: Manifest) -> bool:
        values = {
            "digest": manifest.digest,
            "entries": rc.entries_to(manifest),
            "size": manifest.size,
            "file_count": manifest.file_count,
        }
        with self._scope() as session:
            # The digest is over the entries: a stored digest holds these very entries.
            return insert_new(session, _MANIFESTS, values)

    def get_manifest(self, digest: str) -> Manifest:
        stmt = select(_MANIFESTS.c.entries).where(_MANIFESTS.c.digest == digest)
        with self._scope() as session:
            entries = session.scalar(stmt)
        if entries is None:
            raise NotFoundError(f"artifact {digest} not found")
        return rc.entries_from(entries)

    def add_key(self, key: TeamKey) -> None:
        with self._scope() as session:
            if not insert_new(session, _KEYS, rc.key_to(key)):
                raise ConflictError(f"signing key {key.key_id} exists already")

    def keys(self, team: str | None = None) -> list[TeamKey]:
        stmt = select(_KEYS).order_by(_KEYS.c.created_at, _KEYS.c.key_id)
        if team is not None:
            stmt = stmt.where(_KEYS.c.team == team)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.key_from(row) for row in rows]

    def get_key(self, key_id: str) -> TeamKey:
        stmt = select(_KEYS).where(_KEYS.c.key_id == key_id)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"signing key {key_id} not found")
        return rc.key_from(row)
