"""Principals (users and service accounts) and the caller of one request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aiplane.core.auth.roles import GlobalRole, TeamRole
from aiplane.core.auth.tokens import TokenScope


class PrincipalKind(StrEnum):
    USER = "user"  # a person: tokens, or OIDC sign-in
    SERVICE = "service"  # a service account: CI, a pipeline, a bot; tokens only


@dataclass(frozen=True)
class Principal:
    id: str
    name: str  # unique; what the audit log and ``submitted_by`` show
    kind: PrincipalKind
    created_at: float
    global_role: GlobalRole | None = None
    teams: Mapping[str, TeamRole] = field(default_factory=dict)
    email: str | None = None
    # The OIDC identity this user signs in as: "<issuer> <subject>".
    subject: str | None = None
    disabled: bool = False

    def team_role(self, team: str | None) -> TeamRole | None:
        return self.teams.get(team) if team is not None else None

    @property
    def is_admin(self) -> bool:
        return self.global_role is GlobalRole.ADMIN

    @property
    def sees_everything(self) -> bool:
        """Operators and admins read all teams' work and costs."""
        return self.global_role is not None


@dataclass(frozen=True)
class Caller:
    """Who makes one request: the principal, how they proved it, and what their credential
    narrows them to (a workload's token acts on its own job only)."""

    principal: Principal
    via: str = "token"  # "token" or "oidc"
    token_id: str | None = None
    scope: TokenScope | None = None
    # Team roles from the identity provider's claim, for this request (OIDC): they add to
    # the stored memberships, they never remove one.
    claimed_teams: Mapping[str, TeamRole] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.principal.name

    def team_role(self, team: str | None) -> TeamRole | None:
        stored = self.principal.team_role(team)
        claimed = self.claimed_teams.get(team) if team is not None else None
        if stored is None or claimed is None:
            return stored or claimed
        return stored if stored.rank >= claimed.rank else claimed

    def teams(self) -> dict[str, TeamRole]:
        out = dict(self.claimed_teams)
        for team in self.principal.teams:
            role = self.team_role(team)
            if role is not None:
                out[team] = role
        return out
