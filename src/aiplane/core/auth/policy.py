"""The one policy function: ``can(caller, action, resource)`` -> allow or deny, with a reason.

Every route reaches it through the services (``services/access.py``); the rules are a table,
so that a test can walk it. Three kinds of action:

- team actions: allowed to a principal holding at least the listed role in the resource's
  team; operators and admins hold every read and may cancel; work of a team the caller is not
  in is *hidden* (answered as not found, so that its existence is not disclosed);
- own actions: on the caller's own principal and tokens, open to every principal; an admin may
  act on anyone's;
- global actions: the role listed, or admin.

Approving a model's promotion needs the approver role in its team and is never allowed to the
principal who asked for it (``Resource.owner``): not even to an admin.

Managing a team's membership is decided on the *stored* membership only
(``STORED_ROLE_ACTIONS``), never on a role claimed at OIDC sign-in (``Caller.claimed_teams``):
a claimed role lasts as long as the provider's token, while a membership written with it would
outlast it. An owner by claim could otherwise store themselves as owner and keep the team
after the provider drops them from its group.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiplane.core.auth.principals import Caller
from aiplane.core.auth.roles import GlobalRole, TeamRole


class Action(StrEnum):
    JOB_SUBMIT = "job.submit"
    JOB_LIST = "job.list"
    JOB_READ = "job.read"  # the job, its events and its explanation
    JOB_LOGS = "job.logs"
    JOB_CANCEL = "job.cancel"
    JOB_CHECKPOINT = "job.checkpoint"
    COST_READ = "cost.read"  # reports, exports, anomalies, forecasts, alerts
    BUDGET_READ = "budget.read"
    TEAM_MEMBERS_READ = "team.members.read"
    TEAM_MEMBERS_MANAGE = "team.members.manage"
    MODEL_READ = "model.read"  # models, versions, aliases, lineage, history, files
    MODEL_REGISTER = "model.register"  # a new model or version
    MODEL_UPDATE = "model.update"  # a version's tags and description
    MODEL_PROMOTE = "model.promote"  # ask for an alias move: the model's policy decides
    MODEL_PROMOTION_APPROVE = "model.promotion.approve"
    MODEL_POLICY_MANAGE = "model.policy.manage"  # a model's or a team's promotion policy
    MODEL_SHARE = "model.share"  # which other teams read the protected aliases
    DATASET_READ = "dataset.read"
    DATASET_REGISTER = "dataset.register"  # a new dataset, version or replica
    ARTIFACT_UPLOAD = "artifact.upload"  # bytes into the content-addressed store
    ENDPOINT_READ = "endpoint.read"  # endpoints, their replicas and events
    ENDPOINT_APPLY = "endpoint.apply"  # create or change an endpoint
    ENDPOINT_DELETE = "endpoint.delete"
    FLEET_READ = "fleet.read"
    FLEET_APPLY = "fleet.apply"
    # The whole fleet document: every team's budgets and quotas, not only the caller's.
    FLEET_DOCUMENT_READ = "fleet.document.read"
    PRINCIPAL_CREATE = "principal.create"
    PRINCIPAL_LIST = "principal.list"
    PRINCIPAL_READ = "principal.read"
    PRINCIPAL_UPDATE = "principal.update"
    TOKEN_CREATE = "token.create"
    TOKEN_LIST = "token.list"
    TOKEN_REVOKE = "token.revoke"
    AUDIT_READ = "audit.read"
    # A gateway run alone (``aiplane gateway``): reads the routing table, asks who a token
    # stands for, reports denials and loads. Every endpoint's spec and every caller's
    # identity pass through it: operators' and admins' credentials only.
    GATEWAY_CONTROL = "gateway.control"


# Team actions: the least team role that may do each.
TEAM_ACTIONS: dict[Action, TeamRole] = {
    Action.JOB_SUBMIT: TeamRole.MEMBER,
    Action.JOB_LIST: TeamRole.VIEWER,
    Action.JOB_READ: TeamRole.VIEWER,
    Action.JOB_LOGS: TeamRole.VIEWER,
    Action.JOB_CANCEL: TeamRole.MEMBER,
    Action.JOB_CHECKPOINT: TeamRole.MEMBER,
    Action.COST_READ: TeamRole.VIEWER,
    Action.BUDGET_READ: TeamRole.VIEWER,
    Action.TEAM_MEMBERS_READ: TeamRole.VIEWER,
    Action.TEAM_MEMBERS_MANAGE: TeamRole.OWNER,
    Action.MODEL_READ: TeamRole.VIEWER,
    Action.MODEL_REGISTER: TeamRole.MEMBER,
    Action.MODEL_UPDATE: TeamRole.MEMBER,
    Action.MODEL_PROMOTE: TeamRole.MEMBER,
    Action.MODEL_PROMOTION_APPROVE: TeamRole.APPROVER,
    Action.MODEL_POLICY_MANAGE: TeamRole.OWNER,
    Action.MODEL_SHARE: TeamRole.OWNER,
    Action.DATASET_READ: TeamRole.VIEWER,
    Action.DATASET_REGISTER: TeamRole.MEMBER,
    # Like models: members ship what their team serves.
    Action.ENDPOINT_READ: TeamRole.VIEWER,
    Action.ENDPOINT_APPLY: TeamRole.MEMBER,
    Action.ENDPOINT_DELETE: TeamRole.MEMBER,
}
# Team actions decided on the stored membership only, a role claimed at sign-in not counted.
STORED_ROLE_ACTIONS = frozenset({Action.TEAM_MEMBERS_MANAGE})
# What operators may do in every team (admins may do everything).
OPERATOR_TEAM_ACTIONS = frozenset(
    {
        Action.JOB_LIST,
        Action.JOB_READ,
        Action.JOB_LOGS,
        Action.JOB_CANCEL,
        Action.COST_READ,
        Action.BUDGET_READ,
        Action.TEAM_MEMBERS_READ,
        Action.MODEL_READ,
        Action.DATASET_READ,
        Action.ENDPOINT_READ,
    }
)
# Own actions: every principal on itself (resource.owner is its id); admins on anyone.
OWN_ACTIONS = frozenset(
    {Action.PRINCIPAL_READ, Action.TOKEN_CREATE, Action.TOKEN_LIST, Action.TOKEN_REVOKE}
)
# Global actions: the least global role for each; None means any principal.
GLOBAL_ACTIONS: dict[Action, GlobalRole | None] = {
    Action.FLEET_READ: None,
    Action.FLEET_APPLY: GlobalRole.OPERATOR,
    Action.FLEET_DOCUMENT_READ: GlobalRole.OPERATOR,
    Action.PRINCIPAL_CREATE: GlobalRole.ADMIN,
    Action.PRINCIPAL_LIST: GlobalRole.ADMIN,
    Action.PRINCIPAL_UPDATE: GlobalRole.ADMIN,
    Action.AUDIT_READ: GlobalRole.ADMIN,
    Action.GATEWAY_CONTROL: GlobalRole.OPERATOR,
    # Bytes only: what they become (a model's or a dataset's version) is a team action.
    Action.ARTIFACT_UPLOAD: None,
}
# What a workload's own token may do, on its own job only.
SCOPED_ACTIONS = frozenset(
    {Action.JOB_READ, Action.JOB_LOGS, Action.JOB_CHECKPOINT, Action.PRINCIPAL_READ}
)
# ... and in its own job's team: register what the run made (the registry records the run's
# lineage from the token's job, never from a job the caller names).
SCOPED_TEAM_ACTIONS = frozenset(
    {Action.MODEL_REGISTER, Action.DATASET_REGISTER, Action.ARTIFACT_UPLOAD}
)


@dataclass(frozen=True)
class Resource:
    """What an action is on. ``team`` is the team that owns it; ``owner`` the principal id
    that created it (the submitter, the token's holder, the author of a promotion)."""

    kind: str  # job, team, cost, fleet, principal, token, audit, model
    id: str | None = None
    team: str | None = None
    owner: str | None = None

    def __str__(self) -> str:
        name = self.id or self.team or ""
        return f"{self.kind}/{name}" if name else self.kind


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    # Denied and answered as if the resource did not exist (HTTP 404, not 403).
    hidden: bool = False


def _allow(reason: str) -> Decision:
    return Decision(True, reason)


def _deny(reason: str, *, hidden: bool = False) -> Decision:
    return Decision(False, reason, hidden)


def can(caller: Caller, action: Action, resource: Resource) -> Decision:
    principal = caller.principal
    if principal.disabled:
        return _deny(f"principal {principal.name!r} is disabled")
    if caller.scope is not None:
        return _scoped(caller, action, resource)
    if action is Action.MODEL_PROMOTION_APPROVE and resource.owner == principal.id:
        return _deny("nobody approves their own promotion: another approver must")
    if principal.is_admin:
        return _allow("admin")
    if action in TEAM_ACTIONS:
        return _team(caller, action, resource)
    if action in OWN_ACTIONS:
        if resource.owner == principal.id:
            return _allow("own")
        return _deny(f"{action} on another principal needs the admin role")
    required = GLOBAL_ACTIONS[action]
    if required is None:
        return _allow("any principal")
    if principal.global_role is required:
        return _allow(str(required))
    return _deny(f"{action} needs the {required} role")


def _team(caller: Caller, action: Action, resource: Resource) -> Decision:
    principal = caller.principal
    if principal.global_role is GlobalRole.OPERATOR and action in OPERATOR_TEAM_ACTIONS:
        return _allow("operator")
    needed = TEAM_ACTIONS[action]
    role = caller.team_role(resource.team)
    if role is None:
        # A named thing of a team the caller is not in: its existence is not disclosed (to an
        # operator, who reads every team's work, it is known already: forbidden, not hidden).
        named = resource.id is not None or resource.kind == "team"
        return _deny(
            f"{principal.name!r} is not in team {resource.team!r}",
            hidden=named and principal.global_role is not GlobalRole.OPERATOR,
        )
    if action in STORED_ROLE_ACTIONS:
        stored = principal.team_role(resource.team)
        if stored is not None and stored.allows(needed):
            return _allow(f"{stored} of team {resource.team}")
        # In the team (by claim at least), so it sees the team: forbidden, not hidden.
        return _deny(
            f"{action} needs the {needed} role stored in team {resource.team!r} (a role "
            f"claimed at sign-in does not count); {stored or 'none'} stored"
        )
    if role.allows(needed):
        return _allow(f"{role} of team {resource.team}")
    return _deny(f"{action} needs the {needed} role in team {resource.team!r}; {role} given")


def _scoped(caller: Caller, action: Action, resource: Resource) -> Decision:
    scope = caller.scope
    assert scope is not None  # noqa: S101 (checked by the caller)
    if action is Action.PRINCIPAL_READ and resource.owner == caller.principal.id:
        return _allow("own")
    if action in SCOPED_TEAM_ACTIONS:
        if action is Action.ARTIFACT_UPLOAD or resource.team == scope.team:
            return can(Caller(caller.principal, caller.via, caller.token_id), action, resource)
        return _deny(f"a workload's token registers in its own team ({scope.team}) only")
    own_job = resource.kind == "job" and resource.id == scope.job_id
    if action not in SCOPED_ACTIONS or not own_job:
        return _deny(
            f"a workload's token acts on its own job ({scope.job_id}) only",
            hidden=resource.kind == "job" and resource.id is not None and not own_job,
        )
    # Never more than the principal behind it may do.
    return can(Caller(caller.principal, caller.via, caller.token_id), action, resource)


def visible_teams(caller: Caller) -> frozenset[str] | None:
    """The teams whose work and costs ``caller`` may read; None for all of them."""
    if caller.scope is not None:
        return frozenset({caller.scope.team})
    if caller.principal.sees_everything:
        return None
    return frozenset(caller.teams())
