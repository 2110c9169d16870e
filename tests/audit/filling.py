"""Filling an audit log through the services: changes, and refusals."""

from __future__ import annotations

import pytest

from aiplane.core.auth import Caller, TeamRole
from aiplane.core.errors import PermissionDeniedError
from aiplane.services.container import Services
from tests.identities import role_headers


def caller_of(services: Services, headers: dict[str, str]) -> Caller:
    return services.access.authenticate(headers["Authorization"].removeprefix("Bearer "))


def fill(services: Services) -> dict[str, Caller]:
    """Principals with tokens (viewer, member of "t", operator, admin), a membership changed
    twice, and two refusals: at least 14 entries. Returns the callers by role."""
    callers = {role: caller_of(services, h) for role, h in role_headers(services).items()}
    admin = callers["admin"]
    services.identity.set_member(admin, "t", "viewer-user", TeamRole.APPROVER)
    services.identity.set_member(admin, "vision", "member-user", TeamRole.OWNER)
    for role in ("viewer", "operator"):
        with pytest.raises(PermissionDeniedError):
            services.audit_service.verify_for(callers[role])
    return callers
