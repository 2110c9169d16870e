"""Models: versions, aliases, files, verification, lineage, approvals, promotion, policies,
sharing, history and imports.

A version is addressed by ``{selector}``: its number, an alias (``production``) or ``latest``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.registry_views import (
    approval_out,
    holding_out,
    manifest_in,
    manifest_out,
    model_out,
    move_out,
    version_out,
)
from aiplane.api.streams import FILE_RESPONSES, file_response
from aiplane.core.errors import Problem, SpecError
from aiplane.core.registry.records import Flavor, PolicyScope
from aiplane.services.registry_types import ModelRegistration, MoveRequest, PolicyInForce
from aiplane.wire.registry import (
    ApprovalOut,
    ApproveBody,
    HistoryOut,
    ImportBody,
    ImportOut,
    LineageOut,
    ManifestOut,
    ModelList,
    ModelOut,
    ModelVersionOut,
    MoveList,
    PolicyBody,
    PolicyOut,
    PromoteBody,
    RegisterModelBody,
    ShareBody,
    UpdateVersionBody,
    VerifyOut,
    VersionList,
)

router = APIRouter(prefix="/models", tags=["models"], responses=AUTHENTICATED)
ONE = responses(404, 422)


def _ref(name: str, selector: str) -> str:
    return f"{name}@{selector}"


def _flavor(value: str | None) -> Flavor | None:
    if value is None:
        return None
    try:
        return Flavor(value)
    except ValueError:
        allowed = ", ".join(f.value for f in Flavor)
        raise SpecError("invalid flavor", [Problem("flavor", "unknown", value, allowed)]) from None


@router.get("", response_model=ModelList)
def listing(svc: Svc, caller: Authenticated) -> ModelList:
    """The models of the caller's teams."""
    views = svc.models.summaries(caller)
    names = svc.models.names(
        [v.model.created_by for v in views] + [a.moved_by for v in views for a in v.aliases]
    )
    return ModelList(
        items=[
            model_out(v.model, v.aliases, v.latest.version if v.latest else None, names)
            for v in views
        ]
    )


@router.post(":promote", response_model=MoveList, responses=responses(400, 404, 409, 422))
def promote(body: PromoteBody, svc: Svc, caller: Authenticated) -> MoveList:
    """Move aliases, all or none, each checked against its model's policy: refused with 409
    (promotion_refused) naming every failed rule."""
    moves = [MoveRequest(m.ref, m.alias) for m in body.moves]
    done = svc.promotion.promote(caller, moves)
    names = svc.models.names([m.by for m in done] + [a for m in done for a in m.approvals])
    return MoveList(items=[move_out(m, names) for m in done])


@router.post(":import", response_model=ImportOut, responses=responses(400, 404, 409, 422, 502))
def import_mlflow(body: ImportBody, svc: Svc, caller: Authenticated) -> ImportOut:
    """Bring registered models, versions, aliases, metrics and artifacts across from an MLflow
    tracking server or folder, into ``team``."""
    report = svc.imports.from_mlflow(caller, body.mlflow_uri, body.team)
    return ImportOut.model_validate(report, from_attributes=True)


@router.get("/{name}", response_model=ModelOut, responses=ONE)
def show(name: str, svc: Svc, caller: Authenticated) -> ModelOut:
    view = svc.models.show(caller, name)
    names = svc.models.names([view.model.created_by] + [a.moved_by for a in view.aliases])
    latest = view.latest.version if view.latest else None
    return model_out(view.model, view.aliases, latest, names)


@router.get("/{name}/versions", response_model=VersionList, responses=ONE)
def versions(
    name: str,
    svc: Svc,
    caller: Authenticated,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="a version number cursor")] = None,
) -> VersionList:
    page = svc.models.versions(caller, name, limit=limit, before=before)
    aliases = svc.models.show(caller, name).aliases
    cursor = page[-1].version if len(page) == limit else None
    names = svc.models.names([v.created_by for v in page])
    return VersionList(items=[version_out(v, aliases, names) for v in page], next_cursor=cursor)


@router.post(
    "/{name}/versions",
    response_model=ModelVersionOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 404, 409, 422),
)
def register(
    name: str, body: RegisterModelBody, svc: Svc, caller: Authenticated
) -> ModelVersionOut:
    """A new version from a manifest whose files are uploaded (``/blobs``): numbered after the
    newest, signed with the team's key, its lineage from ``from_run``."""
    request = ModelRegistration(
        name=name,
        team=body.team,
        manifest=manifest_in(body.manifest),
        flavor=_flavor(body.flavor),
        io_signature=body.io_signature,
        metrics=body.metrics,
        params=body.params,
        tags=body.tags,
        description=body.description,
        from_run=body.from_run,
        inputs=tuple(body.inputs),
    )
    registered = svc.models.register(caller, request)
    return version_out(registered, names=svc.models.names([registered.created_by]))


@router.get("/{name}/versions/{selector}", response_model=ModelVersionOut, responses=ONE)
def version(name: str, selector: str, svc: Svc, caller: Authenticated) -> ModelVersionOut:
    """The version a number, an alias or ``latest`` means now (the gateway's lookup)."""
    found = svc.models.resolve(caller, _ref(name, selector))
    out = version_out(found, names=svc.models.names([found.created_by]))
    return out.model_copy(update={"aliases": list(svc.models.held_by(found))})


@router.patch(
    "/{name}/versions/{selector}",
    response_model=ModelVersionOut,
    responses=responses(400, 404, 422),
)
def update(
    name: str, selector: str, body: UpdateVersionBody, svc: Svc, caller: Authenticated
) -> ModelVersionOut:
    """Set or remove tags (null removes), or the description."""
    updated = svc.models.update_version(
        caller, _ref(name, selector), tags=body.tags, description=body.description
    )
    out = version_out(updated, names=svc.models.names([updated.created_by]))
    return out.model_copy(update={"aliases": list(svc.models.held_by(updated))})


@router.get("/{name}/versions/{selector}/manifest", response_model=ManifestOut, responses=ONE)
def manifest(name: str, selector: str, svc: Svc, caller: Authenticated) -> ManifestOut:
    _, found = svc.models.manifest(caller, _ref(name, selector))
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
    """One file's bytes, streamed; ``Range: bytes=N-`` resumes an interrupted download. The
    ``X-Aiplane-Sha256`` header is the digest to check it against."""
    return file_response(
        lambda offset: svc.models.open_file(caller, _ref(name, selector), path, offset),
        range_header,
    )


@router.get("/{name}/versions/{selector}/verify", response_model=VerifyOut, responses=ONE)
def verify(name: str, selector: str, svc: Svc, caller: Authenticated) -> VerifyOut:
    """Re-hash every stored file and check the signature: each file that differs named."""
    check = svc.models.verify(caller, _ref(name, selector))
    return VerifyOut(
        ok=check.ok,
        ref=check.version.ref,
        artifact=check.version.artifact,
        files=check.manifest.file_count,
        bytes=check.manifest.size,
        signature=check.signature,
        problems=[
            {"location": p.location, "message": p.message, "given": p.given, "allowed": p.allowed}
            for p in check.problems
        ],
    )


@router.get("/{name}/versions/{selector}/lineage", response_model=LineageOut, responses=ONE)
def lineage(name: str, selector: str, svc: Svc, caller: Authenticated) -> LineageOut:
    """Datasets -> run -> this version -> deployments."""
    graph = svc.lineage.of_model(caller, _ref(name, selector))
    data = graph.to_dict()
    return LineageOut(nodes=data["nodes"], edges=data["edges"], dot=graph.to_dot())


@router.post(
    "/{name}/versions/{selector}/approvals",
    response_model=ApprovalOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 404, 409, 422),
)
def approve(
    name: str, selector: str, body: ApproveBody, svc: Svc, caller: Authenticated
) -> ApprovalOut:
    """Approve the version for an alias: an approver of the team, never its author."""
    approval = svc.promotion.approve(caller, _ref(name, selector), body.alias, body.comment)
    return approval_out(approval, svc.models.names([approval.by]))


@router.get(
    "/{name}/versions/{selector}/approvals", response_model=list[ApprovalOut], responses=ONE
)
def approvals(name: str, selector: str, svc: Svc, caller: Authenticated) -> list[ApprovalOut]:
    found = svc.promotion.approvals(caller, _ref(name, selector))
    names = svc.models.names([a.by for a in found])
    return [approval_out(a, names) for a in found]


@router.get("/{name}/history", response_model=HistoryOut, responses=ONE)
def history(
    name: str,
    svc: Svc,
    caller: Authenticated,
    alias: str | None = None,
    at: Annotated[float | None, Query(description="epoch seconds: what held then")] = None,
) -> HistoryOut:
    """Each alias's periods, oldest first (what it held, since when, moved by whom, with
    which approvals); with ``at``, the period in force then for each alias."""
    periods = svc.promotion.history(caller, name, alias=alias, at=at)
    names = svc.models.names([h.by for h in periods] + [a for h in periods for a in h.approvals])
    return HistoryOut(at=at, items=[holding_out(h, names) for h in periods])


def policy_out(found: PolicyInForce) -> PolicyOut:
    record = found.record
    return PolicyOut(
        scope=str(record.scope) if record else None,
        name=record.name if record else None,
        revision=record.revision if record else None,
        updated_at=record.updated_at if record else None,
        updated_by=record.updated_by if record else None,
        document=dict(record.document) if record else None,
        protected=sorted(a for a in found.policy.aliases if found.policy.is_protected(a)),
    )


@router.get("/{name}/policy", response_model=PolicyOut, responses=ONE)
def get_policy(name: str, svc: Svc, caller: Authenticated) -> PolicyOut:
    """The policy in force for the model: its own, its team's or the default."""
    return policy_out(svc.policies.get(caller, PolicyScope.MODEL, name))


@router.put("/{name}/policy", response_model=PolicyOut, responses=responses(400, 404, 409, 422))
def put_policy(name: str, body: PolicyBody, svc: Svc, caller: Authenticated) -> PolicyOut:
    """Set the model's own policy (the team's owners, or an admin: audited with the
    document)."""
    svc.policies.put(caller, PolicyScope.MODEL, name, body.spec, body.source)
    return policy_out(svc.policies.get(caller, PolicyScope.MODEL, name))


@router.put("/{name}/sharing", response_model=ModelOut, responses=responses(400, 404, 422))
def share(name: str, body: ShareBody, svc: Svc, caller: Authenticated) -> ModelOut:
    """The teams that may read the versions the protected aliases hold."""
    return model_out(svc.models.share(caller, name, body.teams))


team_router = APIRouter(prefix="/teams", tags=["models"], responses=AUTHENTICATED)


@team_router.get("/{team}/model-policy", response_model=PolicyOut, responses=ONE)
def get_team_policy(team: str, svc: Svc, caller: Authenticated) -> PolicyOut:
    """The team's promotion policy for its models (a model's own replaces it)."""
    return policy_out(svc.policies.get(caller, PolicyScope.TEAM, team))


@team_router.put(
    "/{team}/model-policy", response_model=PolicyOut, responses=responses(400, 404, 409, 422)
)
def put_team_policy(team: str, body: PolicyBody, svc: Svc, caller: Authenticated) -> PolicyOut:
    """Set the team's promotion policy (its owners, or an admin: audited with the document)."""
    svc.policies.put(caller, PolicyScope.TEAM, team, body.spec, body.source)
    return policy_out(svc.policies.get(caller, PolicyScope.TEAM, team))
