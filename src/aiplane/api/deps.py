"""Request dependencies: the services and the caller's identity and role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiplane.core.auth import Role, TokenRecord
from aiplane.services.container import Services

_bearer = HTTPBearer(auto_error=False, description="An aiplane API token")


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]


def require(role: Role) -> Callable[..., TokenRecord]:
    """A dependency that authenticates the caller and checks they hold at least ``role``."""

    def check(
        svc: Svc,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenRecord:
        return svc.tokens.authorize(credentials.credentials if credentials else None, role)

    return check


Viewer = Annotated[TokenRecord, Depends(require(Role.VIEWER))]
Member = Annotated[TokenRecord, Depends(require(Role.MEMBER))]
Operator = Annotated[TokenRecord, Depends(require(Role.OPERATOR))]
Admin = Annotated[TokenRecord, Depends(require(Role.ADMIN))]
