"""Roles: one per team a principal belongs to, and two global ones."""

from __future__ import annotations

from enum import StrEnum


class TeamRole(StrEnum):
    """A principal's role in one team; each may do what the roles before it may."""

    VIEWER = "viewer"  # reads the team's work, costs and budgets
    MEMBER = "member"  # submits, cancels, reports checkpoints
    APPROVER = "approver"  # approves promotions of the team's models (never their own)
    OWNER = "owner"  # manages the team's membership

    @property
    def rank(self) -> int:
        return _TEAM_RANK[self]

    def allows(self, required: TeamRole) -> bool:
        return self.rank >= required.rank


_TEAM_RANK = {TeamRole.VIEWER: 0, TeamRole.MEMBER: 1, TeamRole.APPROVER: 2, TeamRole.OWNER: 3}


class GlobalRole(StrEnum):
    """Roles over the whole control plane, on top of any team roles."""

    OPERATOR = "operator"  # the fleet and scheduling; reads all work and costs
    ADMIN = "admin"  # everything, principals and the audit log included
