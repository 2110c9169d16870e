"""Request dependencies: the services and the caller.

Routes take :data:`Authenticated` (the caller behind the bearer credential) and pass it to the
services, which ask the policy (``core.auth.can``) before they read or change anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiplane.core.auth import Caller
from aiplane.core.errors import NotFoundError, Problem, SpecError
from aiplane.core.text import encodable, storable
from aiplane.services.container import Services

_bearer = HTTPBearer(auto_error=False, description="An aiplane API token, or an OIDC ID token")


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]


def authenticated(
    request: Request,
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    caller = svc.access.authenticate(credentials.credentials if credentials else None)
    # For the audit of calls that fail further in (see ``errors.install``).
    request.state.caller = caller
    for value in request.path_params.values():
        if isinstance(value, str) and not storable(value):
            # No job, token or principal is named with a control character or a lone
            # surrogate (names are checked when made), and PostgreSQL cannot even be asked
            # about one with a NUL: answered as what it is, not found (a failed mutating call
            # is then audited, the value escaped).
            raise NotFoundError(f"no resource is named {value!r}")
    return caller


def _unencodable(value: Any, location: str) -> Iterator[Problem]:
    """Each string in a JSON document that holds a NUL or a lone surrogate."""
    if isinstance(value, str):
        if not encodable(value):
            allowed = "text without NUL (\\u0000) or lone surrogates"
            yield Problem(location, "not storable text", repr(value)[:80], allowed)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unencodable(key, f"{location}.{key!s}"[:200])
            yield from _unencodable(item, f"{location}.{key!s}"[:200])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unencodable(item, f"{location}.{i}")


async def storable_input(
    request: Request, caller: Annotated[Caller, Depends(authenticated)]
) -> Caller:
    """The caller, once its query and body are known to hold only text a store can keep.

    PostgreSQL refuses a NUL in text, so a ``?before=%00`` or a workload's ``"run": "a\\u0000"``
    reached the store and came back as a 503, "store unavailable", which it was not: refused
    here, after authentication (a stranger learns nothing), with the field. A query value is
    an id, a name, a time or a filter: no control character at all; a body's text may hold
    line breaks (a command), not a NUL or a lone surrogate."""
    # Only what the route takes (what it ignores reaches nothing, and is not refused where the
    # document declares no 422), located by the parameter's name alone, as the routes' own
    # checks do (from, actor, status).
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return caller
    taken = {p.alias for p in route.dependant.query_params}
    problems = [
        Problem(name, "holds a control character", repr(value)[:80], "printable text")
        for name, value in request.query_params.multi_items()
        if name in taken and not storable(value)
    ]
    if route.body_field is not None and await request.body():
        try:
            # Parsed already by FastAPI for a route with a body: cached, not parsed again.
            document = await request.json()
        except ValueError:
            document = None  # not JSON: the route's own validation answers
        problems += list(_unencodable(document, "body"))
    if problems:
        raise SpecError("invalid request: text a store cannot keep", problems[:20])
    return caller


Authenticated = Annotated[Caller, Depends(storable_input)]
