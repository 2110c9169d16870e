"""Request dependencies: the services and the caller.

Routes take :data:`Authenticated` (the caller behind the bearer credential) and pass it to the
services, which ask the policy (``core.auth.can``) before they read or change anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiplane.core.auth import Caller
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
    return caller


Authenticated = Annotated[Caller, Depends(authenticated)]
