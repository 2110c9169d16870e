"""A workload's own token: issued per attempt, scoped to its job, refused once it ended."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aiplane.backends.fake import FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.core.auth import GlobalRole, PrincipalKind, TeamRole, TokenScope
from aiplane.core.errors import AuthenticationError
from aiplane.core.runs import Job, Run, RunState
from aiplane.services.access import Access, TokenAuthenticator
from aiplane.services.audit import AuditLog
from aiplane.services.execution import Executor
from aiplane.services.identity import IdentityService
from aiplane.services.identity_rules import WORKLOAD_TOKEN_TTL_S
from aiplane.services.workload_tokens import WorkloadTokens, token_name
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.store.memory import MemoryStore
from tests import builders
from tests.builders import workload
from tests.store import factories

NOW = 1_000_000.0
POOL = builders.pool(site="onprem-fra", name="dgx-h100")
URL = "http://127.0.0.1:9"


class Plane:
    """The parts a workload token goes through: store, audit, access, identity."""

    def __init__(self, store: MemoryStore | None = None, url: str | None = URL) -> None:
        self.now = NOW
        self.store = store or MemoryStore()
        self.audit = AuditLog(self.store, Ed25519Signer.generate(), lambda: self.now)
        authenticator = TokenAuthenticator(self.store, lambda: self.now)
        self.access = Access(self.audit, [authenticator], on_change=authenticator.forget)
        self.identity = IdentityService(self.store, self.access, self.audit, lambda: self.now)
        self.url = url
        self.tokens = WorkloadTokens(
            self.store,
            self.identity,
            self.audit,
            self.access.changed,
            lambda: self.url,
            lambda: self.now,
        )

    def job(self, submitted_by: str = "alice", job_id: str = "job-1") -> tuple[Job, Run]:
        job = Job(job_id, workload(team="a"), NOW, submitted_by)
        run = Run(f"run-{job_id}", job_id, RunState.ADMITTED, NOW, NOW, attempt=1)
        self.store.jobs.add(job, run)
        return job, run

    def issue(self, job: Job, run: Run) -> str:
        """The token a replica of ``run``'s attempt gets when it starts."""
        credentials = self.tokens.credentials(job, run)
        assert credentials is not None
        return credentials.token()

    def move(self, run: Run, state: RunState) -> Run:
        current = self.store.jobs.get_run(run.id)
        return self.store.jobs.update_run(replace(current, state=state), current.state)


@pytest.fixture
def plane() -> Plane:
    p = Plane()
    p.identity.create_principal(None, "alice", PrincipalKind.USER, teams={"a": TeamRole.MEMBER})
    return p


def test_an_attempt_gets_the_url_and_a_token_scoped_to_its_job(plane: Plane) -> None:
    job, run = plane.job()
    credentials = plane.tokens.credentials(job, run)
    assert credentials is not None
    assert credentials.env == {"AIPLANE_URL": URL}
    # Issued when a replica starts (the backend asks), not before.
    assert plane.store.tokens.listing() == []
    assert not credentials.token.issued
    token = credentials.token()
    assert credentials.token() == token  # every replica of the launch gets the same one
    caller = plane.access.authenticate(token)
    assert caller.name == "alice"
    assert caller.scope == TokenScope("a", "job-1")
    (record,) = plane.store.tokens.listing()
    assert record.name == token_name("job-1", 1)
    assert record.expires_at is not None and record.expires_at <= NOW + WORKLOAD_TOKEN_TTL_S
    # Only its hash is stored.
    assert token not in repr(record)


def test_no_token_without_a_server_url_or_a_principal_behind_the_job(plane: Plane) -> None:
    job, run = plane.job(submitted_by="someone-unknown")
    assert plane.tokens.credentials(job, run) is None
    plane.url = None
    job2, run2 = plane.job(job_id="job-2")
    assert plane.tokens.credentials(job2, run2) is None
    assert plane.store.tokens.listing() == []


def test_revoked_in_the_unit_that_ends_the_attempt_and_refused_at_once(plane: Plane) -> None:
    job, run = plane.job()
    token = plane.issue(job, run)
    plane.access.authenticate(token)  # cached now
    with plane.store.unit_of_work() as uow:
        assert plane.tokens.revoke(uow, run, NOW)
    plane.tokens.committed(run)
    with pytest.raises(AuthenticationError, match="revoked"):
        plane.access.authenticate(token)
    assert not plane.tokens.revoke(plane.store, run, NOW)  # nothing left to revoke


def test_a_unit_rolled_back_leaves_the_token_to_the_sweep(plane: Plane) -> None:
    job, run = plane.job()
    token = plane.issue(job, run)

    def end_attempt() -> None:
        with plane.store.unit_of_work() as uow:
            plane.tokens.revoke(uow, run, NOW)
            raise RuntimeError("the run's write failed")

    with pytest.raises(RuntimeError):
        end_attempt()
    plane.access.authenticate(token)  # still valid: nothing committed
    plane.move(run, RunState.FAILED)
    assert plane.tokens.sweep() == 1
    with pytest.raises(AuthenticationError):
        plane.access.authenticate(token)


@pytest.mark.parametrize("state", [RunState.CANCELLED, RunState.PREEMPTED, RunState.SUCCEEDED])
def test_attempts_ended_elsewhere_lose_their_token_on_the_next_sweep(
    plane: Plane, state: RunState
) -> None:
    job, run = plane.job()
    token = plane.issue(job, run)
    plane.move(run, RunState.RUNNING)
    assert plane.tokens.sweep() == 0
    plane.access.authenticate(token)
    plane.move(run, state)
    assert plane.tokens.sweep() == 1
    with pytest.raises(AuthenticationError, match="revoked"):
        plane.access.authenticate(token)


def test_a_restarted_control_plane_finds_the_live_tokens_again(plane: Plane) -> None:
    job, run = plane.job()
    token = plane.issue(job, run)
    admin = plane.identity.create_principal(None, "root", global_role=GlobalRole.ADMIN)
    plane.identity.issue_token(None, admin, "not a workload's")
    restarted = Plane(plane.store)
    assert restarted.tokens.adopt() == 1
    plane.move(run, RunState.CANCELLED)
    assert restarted.tokens.sweep() == 1
    with pytest.raises(AuthenticationError):
        restarted.access.authenticate(token)


def test_a_second_launch_that_starts_replicas_gets_a_token_and_the_first_one_stays(
    plane: Plane,
) -> None:
    # Replicas started by the first launch still run with the first token: it must not go
    # before the attempt ends; then both do.
    job, run = plane.job()
    first = plane.issue(job, run)
    second = plane.issue(job, run)
    assert first != second
    plane.access.authenticate(first)
    plane.access.authenticate(second)
    with plane.store.unit_of_work() as uow:
        assert plane.tokens.revoke(uow, run, NOW)
    plane.tokens.committed(run)
    for token in (first, second):
        with pytest.raises(AuthenticationError, match="revoked"):
            plane.access.authenticate(token)


def test_revocations_are_audited(plane: Plane) -> None:
    job, run = plane.job()
    plane.issue(job, run)
    plane.move(run, RunState.CANCELLED)
    plane.tokens.sweep()
    actions = [e.record.action for e in plane.store.audit.entries()]
    assert actions[-2:] == ["token.create", "token.revoke"]


class Executing(Plane):
    """The executor over a fake cluster, with workload tokens."""

    def __init__(
        self, tmp: Path, store: MemoryStore | None = None, cluster: FakeCluster | None = None
    ) -> None:
        super().__init__(store)
        self.cluster = cluster or FakeCluster()
        self.fleet = builders.fleet(builders.site("onprem-fra", pools=(POOL,)))
        factories = {"emulated": self.cluster.factory("emulated", emulated=True)}
        backends = PoolBackends(tmp / "work", lambda: self.fleet, factories)
        self.executor = Executor(
            self.store, backends, tmp / "ckpt", lambda: self.fleet, 1.0, tokens=self.tokens
        )

    def admit(self) -> Run:
        job = replace(factories.job(1), submitted_by="alice")
        pending = factories.run(job)
        self.store.jobs.add(job, pending)
        admitted = replace(
            pending.transition(RunState.ADMITTED, NOW), placement=factories.placement()
        )
        return self.store.jobs.update_run(admitted, expected_state=RunState.PENDING)


def test_the_executor_gives_each_replica_the_token_and_ends_it_with_the_attempt(
    tmp_path: Path,
) -> None:
    plane = Executing(tmp_path)
    plane.identity.create_principal(None, "alice", teams={"research": TeamRole.MEMBER})
    admitted = plane.admit()
    assert plane.executor.launch_admitted(NOW) == 1
    replicas = list(plane.cluster.replicas.values())
    assert len(replicas) == 2
    token = replicas[0].token
    assert token is not None
    assert all(r.token == token and r.spec.env["AIPLANE_URL"] == URL for r in replicas)
    # Handed over apart from the environment, which a workload may print.
    assert all("AIPLANE_TOKEN" not in r.spec.env for r in replicas)
    assert plane.access.authenticate(token).scope == TokenScope("research", admitted.job_id)
    for handle in plane.store.jobs.get_run(admitted.id).handles:
        plane.cluster.finish(handle, 0)
    plane.executor.reconcile(NOW + 1)
    assert plane.store.jobs.get_run(admitted.id).state is RunState.SUCCEEDED
    with pytest.raises(AuthenticationError, match="revoked"):
        plane.access.authenticate(token)
    # Revoked in the unit of work that ended the run (its time), not by the sweep after it
    # (the plane's clock).
    (record,) = plane.store.tokens.listing()
    assert record.revoked_at == NOW + 1


def _crashed_before_marking_starting(plane: Executing, admitted: Run) -> None:
    """As after a crash between starting the replicas and recording it: the run is admitted."""
    current = plane.store.jobs.get_run(admitted.id)
    back = replace(current, state=RunState.ADMITTED, handles=())
    plane.store.jobs.update_run(back, expected_state=current.state)


def test_recovery_keeps_the_token_of_replicas_already_started(tmp_path: Path) -> None:
    plane = Executing(tmp_path)
    plane.identity.create_principal(None, "alice", teams={"research": TeamRole.MEMBER})
    admitted = plane.admit()
    plane.executor.launch_admitted(NOW)
    token = next(iter(plane.cluster.replicas.values())).token
    assert token is not None
    _crashed_before_marking_starting(plane, admitted)
    restarted = Executing(tmp_path, plane.store, plane.cluster)
    restarted.executor.recover(NOW + 1)
    # The launch found both replicas running: nothing new issued, nothing revoked.
    assert plane.store.jobs.get_run(admitted.id).state is RunState.STARTING
    names = [r.name for r in plane.store.tokens.listing()]
    assert names == [token_name(admitted.job_id, admitted.attempt)]
    assert restarted.access.authenticate(token).scope == TokenScope("research", admitted.job_id)
    for handle in plane.store.jobs.get_run(admitted.id).handles:
        plane.cluster.finish(handle, 0)
    restarted.executor.reconcile(NOW + 2)
    with pytest.raises(AuthenticationError, match="revoked"):
        restarted.access.authenticate(token)


def test_recovery_issues_a_token_for_a_replica_it_starts_and_keeps_the_first(
    tmp_path: Path,
) -> None:
    plane = Executing(tmp_path)
    plane.identity.create_principal(None, "alice", teams={"research": TeamRole.MEMBER})
    admitted = plane.admit()
    plane.executor.launch_admitted(NOW)
    first = next(iter(plane.cluster.replicas.values())).token
    assert first is not None
    _crashed_before_marking_starting(plane, admitted)
    # Replica 1 never started before the crash.
    (late,) = [k for k, r in plane.cluster.replicas.items() if r.spec.replica == 1]
    del plane.cluster.replicas[late]
    restarted = Executing(tmp_path, plane.store, plane.cluster)
    restarted.executor.recover(NOW + 1)
    second = plane.cluster.replicas[late].token
    assert second is not None and second != first
    for token in (first, second):
        restarted.access.authenticate(token)
    for handle in plane.store.jobs.get_run(admitted.id).handles:
        plane.cluster.finish(handle, 0)
    restarted.executor.reconcile(NOW + 2)
    for token in (first, second):
        with pytest.raises(AuthenticationError, match="revoked"):
            restarted.access.authenticate(token)
