"""The policy table, walked: every action with every kind of caller."""

from __future__ import annotations

import pytest

from aiplane.core.auth import (
    Action,
    Caller,
    GlobalRole,
    Principal,
    PrincipalKind,
    Resource,
    TeamRole,
    TokenScope,
    can,
    visible_teams,
)
from aiplane.core.auth.policy import GLOBAL_ACTIONS, OWN_ACTIONS, TEAM_ACTIONS


def caller(
    name: str = "p",
    *,
    teams: dict[str, TeamRole] | None = None,
    role: GlobalRole | None = None,
    scope: TokenScope | None = None,
    disabled: bool = False,
    claimed: dict[str, TeamRole] | None = None,
) -> Caller:
    principal = Principal(
        f"id-{name}", name, PrincipalKind.USER, 0.0, role, teams or {}, disabled=disabled
    )
    return Caller(principal, scope=scope, claimed_teams=claimed or {})


JOB_A = Resource("job", "j-1", team="a")
V, M, AP, OW = TeamRole.VIEWER, TeamRole.MEMBER, TeamRole.APPROVER, TeamRole.OWNER


def test_every_action_has_exactly_one_rule() -> None:
    kinds = [set(TEAM_ACTIONS), set(OWN_ACTIONS), set(GLOBAL_ACTIONS)]
    for action in Action:
        assert sum(action in k for k in kinds) == 1, action


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (V, Action.JOB_READ, True),
        (V, Action.JOB_LOGS, True),
        (V, Action.JOB_SUBMIT, False),
        (V, Action.JOB_CANCEL, False),
        (M, Action.JOB_SUBMIT, True),
        (M, Action.JOB_CANCEL, True),
        (M, Action.JOB_CHECKPOINT, True),
        (M, Action.TEAM_MEMBERS_MANAGE, False),
        (M, Action.MODEL_PROMOTION_APPROVE, False),
        (AP, Action.MODEL_PROMOTION_APPROVE, True),
        (AP, Action.TEAM_MEMBERS_MANAGE, False),
        (OW, Action.TEAM_MEMBERS_MANAGE, True),
        (OW, Action.JOB_SUBMIT, True),
    ],
)
def test_team_roles_are_ordered(role: TeamRole, action: Action, allowed: bool) -> None:
    decision = can(caller(teams={"a": role}), action, JOB_A)
    assert decision.allowed is allowed, decision.reason
    if not allowed:
        # The caller is in the team and sees the job: forbidden, not hidden.
        assert not decision.hidden
        assert "a" in decision.reason


def test_another_teams_job_is_hidden() -> None:
    for action in (Action.JOB_READ, Action.JOB_LOGS, Action.JOB_CANCEL):
        decision = can(caller(teams={"b": OW}), action, JOB_A)
        assert not decision.allowed and decision.hidden


def test_operators_read_and_cancel_everywhere_but_do_not_submit() -> None:
    op = caller(role=GlobalRole.OPERATOR)
    for action in (Action.JOB_READ, Action.JOB_LOGS, Action.JOB_CANCEL, Action.COST_READ):
        assert can(op, action, JOB_A).allowed
    assert not can(op, Action.JOB_SUBMIT, Resource("job", team="a")).allowed
    assert can(op, Action.FLEET_APPLY, Resource("fleet")).allowed
    assert not can(op, Action.AUDIT_READ, Resource("audit")).allowed
    assert not can(op, Action.PRINCIPAL_CREATE, Resource("principal", "x")).allowed
    assert visible_teams(op) is None


def test_admins_may_do_everything_but_approve_their_own_promotion() -> None:
    admin = caller("root", role=GlobalRole.ADMIN)
    for action in Action:
        assert can(admin, action, Resource("model", "m", team="a", owner="id-other")).allowed
    own = Resource("model", "m", team="a", owner="id-root")
    decision = can(admin, Action.MODEL_PROMOTION_APPROVE, own)
    assert not decision.allowed and "own" in decision.reason


def test_approvers_never_approve_their_own_promotion() -> None:
    approver = caller("ann", teams={"a": AP})
    theirs = Resource("model", "m", team="a", owner="id-bob")
    mine = Resource("model", "m", team="a", owner="id-ann")
    assert can(approver, Action.MODEL_PROMOTION_APPROVE, theirs).allowed
    assert not can(approver, Action.MODEL_PROMOTION_APPROVE, mine).allowed


def test_own_actions_are_open_to_self_only() -> None:
    me = caller("me")
    mine = Resource("principal", "me", owner="id-me")
    theirs = Resource("principal", "you", owner="id-you")
    for action in OWN_ACTIONS:
        assert can(me, action, mine).allowed
        assert not can(me, action, theirs).allowed
    assert can(me, Action.FLEET_READ, Resource("fleet")).allowed
    assert not can(me, Action.FLEET_APPLY, Resource("fleet")).allowed


def test_a_workload_token_acts_on_its_own_job_only() -> None:
    scope = TokenScope("a", "j-1")
    # Even an admin's workload token is narrowed to its job.
    w = caller("root", role=GlobalRole.ADMIN, scope=scope)
    assert can(w, Action.JOB_CHECKPOINT, JOB_A).allowed
    assert can(w, Action.JOB_READ, JOB_A).allowed
    other = can(w, Action.JOB_READ, Resource("job", "j-2", team="a"))
    assert not other.allowed and other.hidden
    assert not can(w, Action.JOB_CANCEL, JOB_A).allowed
    assert not can(w, Action.JOB_LIST, Resource("job", team="a")).allowed
    assert not can(w, Action.FLEET_APPLY, Resource("fleet")).allowed
    # And never more than the principal behind it: a viewer's cannot report checkpoints.
    viewer = caller(teams={"a": V}, scope=scope)
    assert not can(viewer, Action.JOB_CHECKPOINT, JOB_A).allowed
    assert visible_teams(w) == frozenset({"a"})


def test_disabled_principals_may_do_nothing() -> None:
    off = caller(role=GlobalRole.ADMIN, disabled=True)
    assert not any(can(off, a, JOB_A).allowed for a in Action)


def test_claimed_teams_add_to_stored_memberships() -> None:
    c = caller(teams={"a": V}, claimed={"a": M, "b": V})
    assert c.team_role("a") is M
    assert c.teams() == {"a": M, "b": V}
    assert can(c, Action.JOB_SUBMIT, Resource("job", team="a")).allowed
    assert visible_teams(c) == frozenset({"a", "b"})
    # A claim never lowers a stored role.
    c2 = caller(teams={"a": OW}, claimed={"a": V})
    assert c2.team_role("a") is OW


def test_team_membership_is_managed_on_the_stored_role_only() -> None:
    team_a = Resource("team", team="a")
    manage = Action.TEAM_MEMBERS_MANAGE
    # An owner by claim only: sees the team (forbidden, not hidden) but does not manage it,
    # or it could store itself as owner and outlast the provider's group.
    claimed = caller(claimed={"a": OW})
    assert can(claimed, Action.TEAM_MEMBERS_READ, team_a).allowed
    decision = can(claimed, manage, team_a)
    assert not decision.allowed and not decision.hidden
    assert "stored" in decision.reason and "claimed" in decision.reason
    # A stored viewer claiming owner: the stored role decides.
    assert not can(caller(teams={"a": V}, claimed={"a": OW}), manage, team_a).allowed
    # A stored owner manages, whatever the claim says.
    assert can(caller(teams={"a": OW}, claimed={"a": V}), manage, team_a).allowed
    # Other team actions still count the claim.
    assert can(claimed, Action.JOB_SUBMIT, Resource("job", team="a")).allowed
    # Neither stored nor claimed: hidden, as before.
    assert can(caller(claimed={"b": OW}), manage, team_a).hidden


def test_gateway_control_is_for_operators_and_admins_only() -> None:
    gateway = Resource("gateway")
    service = Principal("id-gw", "gw", PrincipalKind.SERVICE, 0.0, GlobalRole.OPERATOR)
    assert can(Caller(service), Action.GATEWAY_CONTROL, gateway).allowed
    assert can(caller(role=GlobalRole.OPERATOR), Action.GATEWAY_CONTROL, gateway).allowed
    assert can(caller(role=GlobalRole.ADMIN), Action.GATEWAY_CONTROL, gateway).allowed
    for teams in ({"a": OW}, {}):
        decision = can(caller(teams=teams), Action.GATEWAY_CONTROL, gateway)
        assert not decision.allowed and "operator" in decision.reason
    scoped = caller(role=GlobalRole.OPERATOR, scope=TokenScope("a", "j-1"))
    assert not can(scoped, Action.GATEWAY_CONTROL, gateway).allowed
