"""Who the log says acted: "system" for what the control plane does itself (the first admin,
workload tokens, an OIDC sign-up), "anonymous" for a refusal before authentication; neither
name can be taken by a principal."""

from __future__ import annotations

import pytest

from aiplane.core.auth import PrincipalKind, TeamRole
from aiplane.core.errors import AuthenticationError, SpecError
from aiplane.core.runs import Job, Run, RunState
from aiplane.oidc.base import Claims
from aiplane.wiring import ControlPlane
from tests.builders import workload


def actors(cp: ControlPlane) -> list[tuple[str, str]]:
    return [(e.record.actor, e.record.action) for e in cp.services.audit.all_entries()]


def test_the_first_admin_is_made_by_the_system(cp: ControlPlane) -> None:
    assert cp.services.identity.ensure_admin() is not None
    assert actors(cp) == [("system", "principal.create"), ("system", "token.create")]


def test_an_unauthenticated_refusal_is_anonymous(cp: ControlPlane) -> None:
    for credential in ("aip_not-a-token", "not a credential at all"):
        with pytest.raises(AuthenticationError):
            cp.services.access.authenticate(credential)
    assert actors(cp) == [("anonymous", "auth.authenticate")] * 2


def test_workload_tokens_are_issued_and_revoked_by_the_system(cp: ControlPlane) -> None:
    cp.services.identity.create_principal(
        None, "alice", PrincipalKind.USER, teams={"a": TeamRole.MEMBER}
    )
    cp.api_url = "http://127.0.0.1:9"
    job = Job("job-1", workload(team="a"), 1.0, "alice")
    run = Run("run-job-1", "job-1", RunState.ADMITTED, 1.0, 1.0, attempt=1)
    cp.store.jobs.add(job, run)
    credentials = cp.workload_tokens.credentials(job, run)
    assert credentials is not None
    assert credentials.token()  # issued as a replica starts
    with cp.store.unit_of_work() as uow:
        assert cp.workload_tokens.revoke(uow, run, 2.0)
    assert actors(cp)[1:] == [("system", "token.create"), ("system", "token.revoke")]


def test_an_oidc_sign_up_is_by_the_system_and_takes_no_reserved_name(cp: ControlPlane) -> None:
    caller = cp.services.identity.sign_in(
        Claims("https://issuer.test", "sub-1", preferred_username="System")
    )
    assert caller.name == "system-2"
    assert actors(cp) == [("system", "principal.create")]


@pytest.mark.parametrize("name", ["system", "anonymous"])
def test_the_reserved_names_are_refused(cp: ControlPlane, name: str) -> None:
    with pytest.raises(SpecError) as refused:
        cp.services.identity.create_principal(None, name, PrincipalKind.SERVICE)
    (problem,) = refused.value.problems
    assert problem.location == "name" and "reserved" in problem.message
    assert problem.given == repr(name)
