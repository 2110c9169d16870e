"""The registry's records as JSON-ready values and back, shared by the store members.

The memory member keeps these dictionaries as JSON text and the SQL member keeps their parts in
JSON columns, so both store exactly what survives JSON: a tuple comes back a tuple only where
the record declares one, and a mapping comes back a fresh ``dict`` that a caller may mutate
without changing what is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import (
    Alias,
    AliasMove,
    Approval,
    ArtifactSignature,
    ColumnSummary,
    Dataset,
    DatasetVersion,
    Deployment,
    Flavor,
    Model,
    ModelVersion,
    PolicyRecord,
    PolicyScope,
    Replica,
    RunLineage,
    TableSummary,
    TeamKey,
)

Data = dict[str, Any]


def alias_conflict(model: str, name: str, expected: int | None, held: int | None) -> str:
    """Why a compare-and-set of an alias was refused: the same words from every member."""
    want = "no version" if expected is None else f"version {expected}"
    have = "does not exist" if held is None else f"holds version {held}"
    return f"alias {model}@{name} {have}, not {want}: it was moved concurrently"


def policy_conflict(scope: PolicyScope, name: str, expected: int | None, held: int | None) -> str:
    want = "none" if expected is None else f"revision {expected}"
    have = "none" if held is None else f"revision {held}"
    return f"the {scope} policy of {name} is at {have}, not {want}: it was changed concurrently"


def signature_to(sig: ArtifactSignature | None) -> Data | None:
    if sig is None:
        return None
    return {
        "key_id": sig.key_id,
        "algorithm": sig.algorithm,
        "signature": sig.signature,
        "signed_at": sig.signed_at,
    }


def signature_from(data: Mapping[Any, Any] | None) -> ArtifactSignature | None:
    if data is None:
        return None
    return ArtifactSignature(
        data["key_id"], data["algorithm"], data["signature"], float(data["signed_at"])
    )


def lineage_to(run: RunLineage | None) -> Data | None:
    if run is None:
        return None
    return {
        "job_id": run.job_id,
        "code_ref": run.code_ref,
        "parameters": dict(run.parameters),
        "image": run.image,
    }


def lineage_from(data: Mapping[Any, Any] | None) -> RunLineage | None:
    if data is None:
        return None
    return RunLineage(
        job_id=data["job_id"],
        code_ref=data["code_ref"],
        parameters=dict(data["parameters"]),
        image=data["image"],
    )


def tables_to(tables: tuple[TableSummary, ...]) -> list[Data]:
    return [
        {
            "path": t.path,
            "columns": [[c.name, c.type] for c in t.columns],
            "rows": t.rows,
        }
        for t in tables
    ]


def tables_from(data: list[Any]) -> tuple[TableSummary, ...]:
    return tuple(
        TableSummary(
            path=t["path"],
            columns=tuple(ColumnSummary(name, kind) for name, kind in t["columns"]),
            rows=int(t["rows"]),
        )
        for t in data
    )


def model_to(model: Model) -> Data:
    return {
        "name": model.name,
        "team": model.team,
        "created_at": model.created_at,
        "created_by": model.created_by,
        "description": model.description,
        "shared_with": list(model.shared_with),
    }


def model_from(data: Mapping[Any, Any]) -> Model:
    return Model(
        name=data["name"],
        team=data["team"],
        created_at=data["created_at"],
        created_by=data["created_by"],
        description=data["description"],
        shared_with=tuple(data["shared_with"]),
    )


def version_to(v: ModelVersion) -> Data:
    """Every field; the SQL member spreads them over columns of the same names."""
    return {
        "model": v.model,
        "version": v.version,
        "artifact": v.artifact,
        "flavor": str(v.flavor),
        "created_at": v.created_at,
        "created_by": v.created_by,
        "signature": signature_to(v.signature),
        "io_signature": dict(v.io_signature),
        "metrics": dict(v.metrics),
        "params": dict(v.params),
        "tags": dict(v.tags),
        "run": lineage_to(v.run),
        "inputs": list(v.inputs),
        "description": v.description,
    }


def version_from(data: Mapping[Any, Any]) -> ModelVersion:
    return ModelVersion(
        model=data["model"],
        version=data["version"],
        artifact=data["artifact"],
        flavor=Flavor(data["flavor"]),
        created_at=data["created_at"],
        created_by=data["created_by"],
        signature=signature_from(data["signature"]),
        io_signature=dict(data["io_signature"]),
        metrics={k: float(m) for k, m in data["metrics"].items()},
        params=dict(data["params"]),
        tags=dict(data["tags"]),
        run=lineage_from(data["run"]),
        inputs=tuple(data["inputs"]),
        description=data["description"],
    )


def alias_to(a: Alias) -> Data:
    return {
        "model": a.model,
        "name": a.name,
        "version": a.version,
        "moved_at": a.moved_at,
        "moved_by": a.moved_by,
    }


def alias_from(data: Mapping[Any, Any]) -> Alias:
    return Alias(data["model"], data["name"], data["version"], data["moved_at"], data["moved_by"])


def move_to(m: AliasMove) -> Data:
    return {
        "model": m.model,
        "alias": m.alias,
        "version": m.version,
        "previous": m.previous,
        "at": m.at,
        "by": m.by,
        "approvals": list(m.approvals),
        "move_id": m.move_id,
    }


def move_from(data: Mapping[Any, Any]) -> AliasMove:
    return AliasMove(
        model=data["model"],
        alias=data["alias"],
        version=data["version"],
        previous=data["previous"],
        at=data["at"],
        by=data["by"],
        approvals=tuple(data["approvals"]),
        move_id=data["move_id"],
    )


def approval_to(a: Approval) -> Data:
    return {
        "model": a.model,
        "version": a.version,
        "alias": a.alias,
        "by": a.by,
        "at": a.at,
        "comment": a.comment,
    }


def approval_from(data: Mapping[Any, Any]) -> Approval:
    return Approval(
        data["model"], data["version"], data["alias"], data["by"], data["at"], data["comment"]
    )


def policy_to(p: PolicyRecord) -> Data:
    return {
        "scope": str(p.scope),
        "name": p.name,
        "document": dict(p.document),
        "revision": p.revision,
        "updated_at": p.updated_at,
        "updated_by": p.updated_by,
    }


def policy_from(data: Mapping[Any, Any]) -> PolicyRecord:
    return PolicyRecord(
        scope=PolicyScope(data["scope"]),
        name=data["name"],
        document=dict(data["document"]),
        revision=data["revision"],
        updated_at=data["updated_at"],
        updated_by=data["updated_by"],
    )


def deployment_to(d: Deployment) -> Data:
    return {
        "model": d.model,
        "version": d.version,
        "target": d.target,
        "at": d.at,
        "by": d.by,
        "verified": d.verified,
    }


def deployment_from(data: Mapping[Any, Any]) -> Deployment:
    return Deployment(
        data["model"],
        data["version"],
        data["target"],
        data["at"],
        data["by"],
        bool(data["verified"]),
    )


def dataset_to(d: Dataset) -> Data:
    return {
        "name": d.name,
        "team": d.team,
        "created_at": d.created_at,
        "created_by": d.created_by,
        "jurisdiction": d.jurisdiction,
        "description": d.description,
    }


def dataset_from(data: Mapping[Any, Any]) -> Dataset:
    return Dataset(
        name=data["name"],
        team=data["team"],
        created_at=data["created_at"],
        created_by=data["created_by"],
        jurisdiction=data["jurisdiction"],
        description=data["description"],
    )


def replica_to(r: Replica) -> Data:
    return {"site": r.site, "uri": r.uri, "added_at": r.added_at}


def replica_from(data: Mapping[Any, Any]) -> Replica:
    return Replica(data["site"], data["uri"], data["added_at"])


def dataset_version_to(v: DatasetVersion) -> Data:
    """Every field but the replicas, which the SQL member keeps in rows of their own."""
    return {
        "dataset": v.dataset,
        "version": v.version,
        "artifact": v.artifact,
        "size": v.size,
        "file_count": v.file_count,
        "created_at": v.created_at,
        "created_by": v.created_by,
        "jurisdiction": v.jurisdiction,
        "tables": tables_to(v.tables),
    }


def sorted_replicas(replicas: tuple[Replica, ...] | list[Replica]) -> tuple[Replica, ...]:
    """A version's replicas as every member returns them: by site."""
    return tuple(sorted(replicas, key=lambda r: r.site))


def dataset_version_from(data: Mapping[Any, Any], replicas: list[Replica]) -> DatasetVersion:
    return DatasetVersion(
        dataset=data["dataset"],
        version=data["version"],
        artifact=data["artifact"],
        size=data["size"],
        file_count=data["file_count"],
        created_at=data["created_at"],
        created_by=data["created_by"],
        jurisdiction=data["jurisdiction"],
        tables=tables_from(data["tables"]),
        replicas=sorted_replicas(replicas),
    )


def entries_to(manifest: Manifest) -> list[list[Any]]:
    return [[e.path, e.sha256, e.size] for e in manifest.entries]


def entries_from(data: list[Any]) -> Manifest:
    return Manifest(tuple(ManifestEntry(path, sha, int(size)) for path, sha, size in data))


def key_to(k: TeamKey) -> Data:
    return {
        "team": k.team,
        "key_id": k.key_id,
        "algorithm": k.algorithm,
        "public_pem": k.public_pem,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    }


def key_from(data: Mapping[Any, Any]) -> TeamKey:
    return TeamKey(
        team=data["team"],
        key_id=data["key_id"],
        algorithm=data["algorithm"],
        public_pem=data["public_pem"],
        created_at=data["created_at"],
        revoked_at=data["revoked_at"],
    )
