"""Registry records as the API's response bodies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiplane.core.registry.history import Holding
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import (
    Alias,
    AliasMove,
    Approval,
    Dataset,
    DatasetVersion,
    Model,
    ModelVersion,
)
from aiplane.wire.registry import (
    AliasOut,
    ApprovalOut,
    DatasetOut,
    DatasetVersionOut,
    FileEntry,
    HoldingOut,
    ManifestBody,
    ManifestOut,
    ModelOut,
    ModelVersionOut,
    MoveOut,
    ReplicaOut,
    RunLineageOut,
    SignatureOut,
    TableOut,
)

# Principal ids as names (``ModelService.names``): what a reader is shown of who did what.
Names = Mapping[str, str]
_NONE: Names = {}


def _name(names: Names, principal_id: str) -> str:
    return names.get(principal_id, principal_id)


def manifest_in(body: ManifestBody) -> Manifest:
    return Manifest.of(ManifestEntry(f.path, f.sha256, f.size) for f in body.files)


def manifest_out(manifest: Manifest) -> ManifestOut:
    return ManifestOut(
        digest=manifest.digest,
        size=manifest.size,
        file_count=manifest.file_count,
        files=[FileEntry(path=e.path, sha256=e.sha256, size=e.size) for e in manifest.entries],
    )


def version_out(
    version: ModelVersion, aliases: Iterable[Alias] = (), names: Names = _NONE
) -> ModelVersionOut:
    signature = version.signature
    run = version.run
    return ModelVersionOut(
        model=version.model,
        version=version.version,
        artifact=version.artifact,
        flavor=str(version.flavor),
        created_at=version.created_at,
        created_by=_name(names, version.created_by),
        signature=SignatureOut(
            key_id=signature.key_id,
            algorithm=signature.algorithm,
            signature=signature.signature,
            signed_at=signature.signed_at,
        )
        if signature is not None
        else None,
        io_signature=dict(version.io_signature),
        metrics=dict(version.metrics),
        params=dict(version.params),
        tags=dict(version.tags),
        run=RunLineageOut(
            job_id=run.job_id,
            code_ref=run.code_ref,
            parameters=dict(run.parameters),
            image=run.image,
        )
        if run is not None
        else None,
        inputs=list(version.inputs),
        description=version.description,
        aliases=sorted(a.name for a in aliases if a.version == version.version),
    )


def alias_out(alias: Alias, names: Names = _NONE) -> AliasOut:
    return AliasOut(
        name=alias.name,
        version=alias.version,
        moved_at=alias.moved_at,
        moved_by=_name(names, alias.moved_by),
    )


def model_out(
    model: Model, aliases: Iterable[Alias] = (), latest: int | None = None, names: Names = _NONE
) -> ModelOut:
    return ModelOut(
        name=model.name,
        team=model.team,
        created_at=model.created_at,
        created_by=_name(names, model.created_by),
        description=model.description,
        shared_with=list(model.shared_with),
        aliases=[alias_out(a, names) for a in aliases],
        latest_version=latest,
    )


def approval_out(approval: Approval, names: Names = _NONE) -> ApprovalOut:
    return ApprovalOut(
        model=approval.model,
        version=approval.version,
        alias=approval.alias,
        by=_name(names, approval.by),
        at=approval.at,
        comment=approval.comment,
    )


def move_out(move: AliasMove, names: Names = _NONE) -> MoveOut:
    return MoveOut(
        model=move.model,
        alias=move.alias,
        version=move.version,
        previous=move.previous,
        at=move.at,
        by=_name(names, move.by),
        approvals=[_name(names, a) for a in move.approvals],
        move_id=move.move_id,
    )


def holding_out(holding: Holding, names: Names = _NONE) -> HoldingOut:
    return HoldingOut(
        alias=holding.alias,
        version=holding.version,
        since=holding.since,
        until=holding.until,
        by=_name(names, holding.by),
        approvals=[_name(names, a) for a in holding.approvals],
        previous=holding.previous,
        move_id=holding.move_id,
    )


def dataset_out(dataset: Dataset, latest: int | None = None) -> DatasetOut:
    return DatasetOut(
        name=dataset.name,
        team=dataset.team or None,
        created_at=dataset.created_at,
        created_by=dataset.created_by,
        jurisdiction=dataset.jurisdiction,
        description=dataset.description,
        latest_version=latest,
    )


def dataset_version_out(version: DatasetVersion) -> DatasetVersionOut:
    return DatasetVersionOut(
        dataset=version.dataset,
        version=version.version,
        artifact=version.artifact,
        size=version.size,
        file_count=version.file_count,
        created_at=version.created_at,
        created_by=version.created_by,
        jurisdiction=version.jurisdiction,
        tables=[
            TableOut(
                path=t.path,
                columns=[{"name": c.name, "type": c.type} for c in t.columns],
                rows=t.rows,
            )
            for t in version.tables
        ],
        replicas=[
            ReplicaOut(site=r.site, uri=r.uri, added_at=r.added_at) for r in version.replicas
        ],
    )
