"""The control API of a gateway run alone (``aiplane gateway``): the routing table, who a
token stands for, denials and reports.

Each route is the port ``GatewayControl`` over HTTP, for a caller allowed
``gateway.control`` (operators and admins: a service account given the operator role is what
a gateway runs as). A gateway inside ``aiplane up`` calls the port in-process instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, READ_ONLY, responses
from aiplane.core.auth import Action, Resource
from aiplane.core.errors import AuthenticationError
from aiplane.core.serving.routes import RoutingTable
from aiplane.wire.serving import (
    AuthenticateIn,
    CallerOut,
    DenialIn,
    GuardHitsIn,
    ReportIn,
    caller_to_wire,
    table_to_wire,
)

router = APIRouter(prefix="/gateway", tags=["gateway"])
_GATEWAY = Resource("gateway")
# A body: one that is not text (400) or not the model (422).
_WITH_BODY = {**AUTHENTICATED, **responses(400, 422)}


def _allowed(svc: Svc, caller: Authenticated) -> None:
    svc.access.check(caller, Action.GATEWAY_CONTROL, _GATEWAY)


@router.get("/table", response_model=RoutingTable, responses=AUTHENTICATED)
def table(svc: Svc, caller: Authenticated) -> Response:
    """The newest routing table: every endpoint's spec (less its replicas' environment), its
    replicas with their addresses and readiness, and its sites."""
    _allowed(svc, caller)
    # Coded once by the wire's adapter, not validated again against the response model.
    return JSONResponse(table_to_wire(svc.gateway.table()))


@router.post(
    "/authenticate",
    response_model=CallerOut,
    responses=_WITH_BODY,
    openapi_extra=READ_ONLY,
)
def authenticate(body: AuthenticateIn, svc: Svc, caller: Authenticated) -> Response:
    """Who the token in the body stands for; 401 when it is unknown, revoked or expired, or
    its principal is disabled (the gateway then refuses the request it came with)."""
    _allowed(svc, caller)
    found = svc.gateway.authenticate(body.token)
    if found is None:
        refused = AuthenticationError("the token given is unknown, revoked or expired")
        # The port audits what it refuses; a lookup changes nothing to audit again.
        refused.audited = True
        raise refused
    return JSONResponse({"caller": caller_to_wire(found)})


@router.post("/denials", status_code=status.HTTP_204_NO_CONTENT, responses=_WITH_BODY)
def denial(body: DenialIn, svc: Svc, caller: Authenticated) -> Response:
    """An invocation the gateway refused (403): recorded in the audit log."""
    _allowed(svc, caller)
    svc.gateway.record_denial(body.caller, body.endpoint, body.reason, body.at)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/guard-hits", status_code=status.HTTP_204_NO_CONTENT, responses=_WITH_BODY)
def guard_hits(body: GuardHitsIn, svc: Svc, caller: Authenticated) -> Response:
    """Requests and answers the gateway's guards blocked, redacted or flagged: an audit entry
    each (the guard, its action, the kinds found and how many; never the text)."""
    _allowed(svc, caller)
    svc.gateway.record_guard_hits([x.core() for x in body.hits])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/reports", status_code=status.HTTP_204_NO_CONTENT, responses=_WITH_BODY)
def report(body: ReportIn, svc: Svc, caller: Authenticated) -> Response:
    """What the gateway served since its last report: per replica load, per key counts
    (deltas)."""
    _allowed(svc, caller)
    svc.gateway.report([x.core() for x in body.loads], [x.core() for x in body.counts])
    return Response(status_code=status.HTTP_204_NO_CONTENT)
