"""Request dependencies: the control plane and the caller's identity and role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiplane.core.auth import Role, TokenRecord
from aiplane.core.errors import PermissionDeniedError
from aiplane.wiring import ControlPlane

_bearer = HTTPBearer(auto_error=False, description="An aiplane API token")


def control_plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.control_plane
    return cp


CP = Annotated[ControlPlane, Depends(control_plane)]


def require(role: Role) -> Callable[..., TokenRecord]:
    """A dependency that authenticates the caller and checks they hold at least ``role``."""

    def check(
        cp: CP,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenRecord:
        token = cp.verifier.verify(credentials.credentials if credentials else None)
        if not token.role.allows(role):
            raise PermissionDeniedError(
                f"this needs the {role} role; token {token.name!r} has {token.role}"
            )
        return token

    return check


Viewer = Annotated[TokenRecord, Depends(require(Role.VIEWER))]
Member = Annotated[TokenRecord, Depends(require(Role.MEMBER))]
Operator = Annotated[TokenRecord, Depends(require(Role.OPERATOR))]
Admin = Annotated[TokenRecord, Depends(require(Role.ADMIN))]
