"""Principals and their bearer headers for tests: ``grant(cp, "alice", teams={"t": "member"})``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from aiplane.core.auth import Caller, GlobalRole, Principal, PrincipalKind, TeamRole
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.container import Services
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.store.base import Store


def grant(
    services: Services,
    name: str,
    *,
    global_role: GlobalRole | str | None = None,
    teams: Mapping[str, TeamRole | str] | None = None,
    kind: PrincipalKind = PrincipalKind.USER,
) -> dict[str, str]:
    """Create the principal ``name`` with these roles and a token; its Authorization header."""
    return grant_principal(services, name, global_role=global_role, teams=teams, kind=kind)[1]


def grant_principal(
    services: Services,
    name: str,
    *,
    global_role: GlobalRole | str | None = None,
    teams: Mapping[str, TeamRole | str] | None = None,
    kind: PrincipalKind = PrincipalKind.USER,
) -> tuple[Principal, dict[str, str]]:
    """As :func:`grant`, with the principal created."""
    principal = services.identity.create_principal(
        None,
        name,
        kind,
        global_role=GlobalRole(global_role) if global_role else None,
        teams={team: TeamRole(role) for team, role in (teams or {}).items()},
    )
    _, plaintext = services.identity.issue_token(None, principal, f"{name}-token")
    return principal, bearer(plaintext)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# The roles of ``tokens`` fixtures: a team role in team "t", or a global one.
ROLES = ("viewer", "member", "operator", "admin")


def role_headers(services: Services, team: str = "t") -> dict[str, dict[str, str]]:
    """One principal per role of ``ROLES``: viewer and member of ``team``, operator, admin."""
    return {
        "viewer": grant(services, "viewer-user", teams={team: TeamRole.VIEWER}),
        "member": grant(services, "member-user", teams={team: TeamRole.MEMBER}),
        "operator": grant(services, "operator-user", global_role=GlobalRole.OPERATOR),
        "admin": grant(services, "admin-user", global_role=GlobalRole.ADMIN),
    }


def caller(
    name: str = "admin",
    *,
    global_role: GlobalRole | str | None = None,
    teams: Mapping[str, TeamRole | str] | None = None,
) -> Caller:
    """A Caller built without the store, for tests that call services directly."""
    principal = Principal(
        id=f"p-{name}",
        name=name,
        kind=PrincipalKind.USER,
        created_at=0.0,
        global_role=GlobalRole(global_role) if global_role else None,
        teams={team: TeamRole(role) for team, role in (teams or {}).items()},
    )
    return Caller(principal)


def admin_caller(name: str = "me") -> Caller:
    """An admin, named ``name`` (what ``submitted_by`` and the audit log show)."""
    return caller(name, global_role=GlobalRole.ADMIN)


def access_for(store: Store, clock: Callable[[], float] = time.time) -> tuple[Access, AuditLog]:
    """The access service and an audit log (signed with a fresh key) over ``store``, for
    services built by hand."""
    audit = AuditLog(store, Ed25519Signer.generate(), clock)
    return Access(audit, []), audit


# The caller of tests that call services directly: an admin named "me".
ME = admin_caller()
