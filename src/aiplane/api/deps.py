"""Request dependencies: the services and the caller.

Routes take :data:`Authenticated` (the caller behind the bearer credential) and pass it to the
services, which ask the policy (``core.auth.can``) before they read or change anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiplane.core.auth import Caller
from aiplane.core.errors import NotFoundError
from aiplane.core.text import storable
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


Authenticated = Annotated[Caller, Depends(authenticated)]
