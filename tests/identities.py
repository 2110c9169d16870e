"""Principals and their bearer headers for tests: ``grant(cp, "alice", teams={"t": "member"})``."""

from __future__ import annotations

from collections.abc import Mapping

from aiplane.core.auth import GlobalRole, PrincipalKind, TeamRole
from aiplane.services.container import Services


def grant(
    services: Services,
    name: str,
    *,
    global_role: GlobalRole | str | None = None,
    teams: Mapping[str, TeamRole | str] | None = None,
    kind: PrincipalKind = PrincipalKind.USER,
) -> dict[str, str]:
    """Create the principal ``name`` with these roles and a token; its Authorization header."""
    principal = services.identity.create_principal(
        None,
        name,
        kind,
        global_role=GlobalRole(global_role) if global_role else None,
        teams={team: TeamRole(role) for team, role in (teams or {}).items()},
    )
    _, plaintext = services.identity.issue_token(None, principal, f"{name}-token")
    return {"Authorization": f"Bearer {plaintext}"}


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
