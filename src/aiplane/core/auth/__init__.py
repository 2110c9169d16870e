"""Identity and access, pure: principals and their team roles, tokens, and the one policy
function that decides (caller, action, resource) -> allow or deny with a reason."""

from aiplane.core.auth.policy import Action, Decision, Resource, can, visible_teams
from aiplane.core.auth.principals import Caller, Principal, PrincipalKind
from aiplane.core.auth.roles import GlobalRole, TeamRole
from aiplane.core.auth.tokens import TokenRecord, TokenScope

__all__ = [
    "Action",
    "Caller",
    "Decision",
    "GlobalRole",
    "Principal",
    "PrincipalKind",
    "Resource",
    "TeamRole",
    "TokenRecord",
    "TokenScope",
    "can",
    "visible_teams",
]
