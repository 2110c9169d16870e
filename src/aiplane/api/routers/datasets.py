"""Datasets: versions with content hash, size, files, table schemas, jurisdiction and replicas;
their files; and which models were trained on them.

A version is addressed by ``{selector}``: its number or ``latest``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.registry_views import (
    dataset_out,
    dataset_version_out,
    manifest_in,
    manifest_out,
    version_out,
)
from aiplane.api.streams import FILE_RESPONSES, file_response
from aiplane.core.registry.records import ColumnSummary, TableSummary
from aiplane.services.registry_types import DatasetRegistration
from aiplane.wire.registry import (
    DatasetList,
    DatasetOut,
    DatasetVersionList,
    DatasetVersionOut,
    LineageOut,
    ManifestOut,
    RegisterDatasetBody,
    ReplicaBody,
    UsedByOut,
)

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=AUTHENTICATED)
ONE = responses(404, 422)


def _ref(name: str, selector: str) -> str:
    return f"{name}@{selector}"


@router.get("", response_model=DatasetList)
def listing(svc: Svc, caller: Authenticated) -> DatasetList:
    """The datasets of the caller's teams, and those the fleet declares."""
    return DatasetList(items=[dataset_out(d) for d in svc.datasets.listing(caller)])


@router.get("/{name}", response_model=DatasetOut, responses=ONE)
def show(name: str, svc: Svc, caller: Authenticated) -> DatasetOut:
    view = svc.datasets.show(caller, name)
    return dataset_out(view.dataset, view.latest.version if view.latest else None)


@router.get("/{name}/versions", response_model=DatasetVersionList, responses=ONE)
def versions(
    name: str,
    svc: Svc,
    caller: Authenticated,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> DatasetVersionList:
    page = svc.datasets.versions(caller, name, limit=limit, before=before)
    cursor = page[-1].version if len(page) == limit else None
    return DatasetVersionList(items=[dataset_version_out(v) for v in page], next_cursor=cursor)


@router.post(
    "/{name}/versions",
    response_model=DatasetVersionOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 404, 409, 422),
)
def register(
    name: str, body: RegisterDatasetBody, svc: Svc, caller: Authenticated
) -> DatasetVersionOut:
    """A new version from a manifest whose files are uploaded (``/blobs``), or that lies at
    ``uri``; the same bytes again answer with the version they are."""
    request = DatasetRegistration(
        name=name,
        team=body.team,
        manifest=manifest_in(body.manifest),
        site=body.site,
        uri=body.uri,
        tables=tuple(
            TableSummary(
                t.path,
                tuple(ColumnSummary(c.get("name", ""), c.get("type", "")) for c in t.columns),
                t.rows,
            )
            for t in body.tables
        ),
        jurisdiction=body.jurisdiction,
        description=body.description,
    )
    return dataset_version_out(svc.datasets.register(caller, request))


@router.get("/{name}/versions/{selector}", response_model=DatasetVersionOut, responses=ONE)
def version(name: str, selector: str, svc: Svc, caller: Authenticated) -> DatasetVersionOut:
    return dataset_version_out(svc.datasets.resolve(caller, _ref(name, selector)))


@router.get("/{name}/versions/{selector}/manifest", response_model=ManifestOut, responses=ONE)
def manifest(name: str, selector: str, svc: Svc, caller: Authenticated) -> ManifestOut:
    _, found = svc.datasets.manifest(caller, _ref(name, selector))
    return manifest_out(found)


@router.get(
    "/{name}/versions/{selector}/files/{path:path}",
    response_class=StreamingResponse,
    responses={**ONE, **FILE_RESPONSES},
)
def download(
    name: str,
    selector: str,
    path: str,
    svc: Svc,
    caller: Authenticated,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """One file's bytes, streamed; ``Range: bytes=N-`` resumes."""
    return file_response(
        lambda offset: svc.datasets.open_file(caller, _ref(name, selector), path, offset),
        range_header,
    )


@router.post(
    "/{name}/versions/{selector}/replicas",
    response_model=DatasetVersionOut,
    responses=responses(400, 404, 422),
)
def add_replica(
    name: str, selector: str, body: ReplicaBody, svc: Svc, caller: Authenticated
) -> DatasetVersionOut:
    """Record a copy of the version's bytes at a site (placement then moves none to it)."""
    added = svc.datasets.add_replica(caller, _ref(name, selector), body.site, body.uri)
    return dataset_version_out(added)


@router.get("/{name}/versions/{selector}/used-by", response_model=UsedByOut, responses=ONE)
def used_by(
    name: str,
    selector: str,
    svc: Svc,
    caller: Authenticated,
    alias: Annotated[str | None, Query(description="only versions this alias holds")] = None,
) -> UsedByOut:
    """The model versions trained on this dataset version (of models the caller reads)."""
    ref = _ref(name, selector)
    found = svc.lineage.used_by(caller, ref, alias)
    dataset = svc.datasets.resolve(caller, ref)
    return UsedByOut(
        dataset=dataset.ref,
        items=[version_out(v).model_copy(update={"aliases": list(held)}) for v, held in found],
    )


@router.get("/{name}/versions/{selector}/lineage", response_model=LineageOut, responses=ONE)
def lineage(name: str, selector: str, svc: Svc, caller: Authenticated) -> LineageOut:
    graph = svc.lineage.of_dataset(caller, _ref(name, selector))
    data = graph.to_dict()
    return LineageOut(nodes=data["nodes"], edges=data["edges"], dot=graph.to_dot())
