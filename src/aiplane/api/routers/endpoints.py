"""Endpoints: apply (create or change), list, show, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.views import event_out
from aiplane.core.errors import Problem, SpecError
from aiplane.services.container import EndpointView
from aiplane.specs.endpoint import endpoint_from_document, endpoint_to_document
from aiplane.wire.endpoints import EndpointList, EndpointOut, ReplicaOut, SiteRoleOut
from aiplane.wire.specs import SpecBody

router = APIRouter(prefix="/endpoints", tags=["endpoints"], responses=AUTHENTICATED)
ONE = responses(404, 422)


def endpoint_out(view: EndpointView) -> EndpointOut:
    e = view.endpoint
    return EndpointOut(
        name=e.name,
        team=e.team,
        generation=e.generation,
        created_at=e.created_at,
        updated_at=e.updated_at,
        created_by=e.created_by,
        spec=endpoint_to_document(e.spec),
        sites=[
            SiteRoleOut(
                site=s.site,
                role=str(s.role),
                version=s.version,
                wanted=s.wanted,
                running=s.running,
                ready=s.ready,
                reason=s.reason,
                replicas=[
                    ReplicaOut(
                        job_id=r.job_id,
                        run_id=r.run_id,
                        state=str(r.state),
                        version=r.version,
                        generation=r.generation,
                        pool=r.pool,
                        address=r.address,
                        ready=r.ready,
                        draining=r.draining,
                        usd_per_hour=r.usd_per_hour,
                        refused=r.refused,
                    )
                    for r in s.replicas
                ],
            )
            for s in view.sites
        ],
        events=[event_out(ev) for ev in view.events],
        problem=view.problem,
    )


@router.put("/{name}", response_model=EndpointOut, responses=responses(400, 404, 409, 422))
def apply(name: str, body: SpecBody, svc: Svc, caller: Authenticated) -> EndpointOut:
    """Create the endpoint or replace its spec (``spec``: the endpoint.yaml document; its
    ``name``, when given, must be the path's)."""
    document = dict(body.spec)
    given = document.setdefault("name", name)
    if given != name:
        raise SpecError(
            "the endpoint's name is not the one in the path",
            [Problem(f"{body.source}: name", "differs from the path", repr(given), repr(name))],
        )
    spec = endpoint_from_document(document, body.source, body.workdir)
    return endpoint_out(svc.endpoints.apply(caller, spec))


@router.get("", response_model=EndpointList, responses=responses(404, 422))
def listing(
    svc: Svc,
    caller: Authenticated,
    team: Annotated[str | None, Query(description="only this team's")] = None,
) -> EndpointList:
    return EndpointList(items=[endpoint_out(v) for v in svc.endpoints.listing(caller, team)])


@router.get("/{name}", response_model=EndpointOut, responses=ONE)
def show(name: str, svc: Svc, caller: Authenticated) -> EndpointOut:
    return endpoint_out(svc.endpoints.show(caller, name))


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=ONE
)
def delete(name: str, svc: Svc, caller: Authenticated) -> Response:
    """Delete the endpoint; its replicas are cancelled."""
    svc.endpoints.delete(caller, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
