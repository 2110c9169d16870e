"""``launch_each``: a gang through the core protocol is all or nothing, whatever fails."""

from __future__ import annotations

import logging

import pytest

from aiplane.backends.base import Handle, LaunchSpec, ReplicaStatus, launch_each
from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.core.errors import BackendError

from .helpers import make_spec


class Flaky(FakeBackend):
    """A fake whose ``fail_at``-th launch (from 1) raises ``error``, and whose cancel of the
    replicas in ``bad_cancels`` raises too."""

    def __init__(
        self, cluster: FakeCluster, fail_at: int, error: BaseException, bad_cancels: set[int]
    ) -> None:
        super().__init__(cluster)
        self.fail_at, self.error, self.bad_cancels = fail_at, error, bad_cancels
        self.launches = 0

    def launch(self, spec: LaunchSpec) -> Handle:
        self.launches += 1
        if self.launches == self.fail_at:
            raise self.error
        return super().launch(spec)

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        if handle["replica"] in self.bad_cancels:
            raise OSError(f"cannot reach replica {handle['replica']}")
        super().cancel(handle, grace_s)


def _gang(n: int) -> list[LaunchSpec]:
    return [make_spec(replica=i, replicas=n) for i in range(n)]


def _statuses(cluster: FakeCluster) -> list[ReplicaStatus]:
    return [r.status for r in cluster.replicas.values()]


@pytest.mark.parametrize(
    "error", [RuntimeError("driver bug"), KeyError("node"), BackendError("quota exceeded")]
)
def test_any_failed_launch_cancels_the_replicas_started_and_raises_it(
    error: BaseException,
) -> None:
    cluster = FakeCluster()
    backend = Flaky(cluster, fail_at=3, error=error, bad_cancels=set())
    with pytest.raises(type(error)) as raised:
        launch_each(backend, _gang(4), grace_s=0.0)
    assert raised.value is error
    assert len(cluster.replicas) == 2
    assert _statuses(cluster) == [ReplicaStatus.EXITED, ReplicaStatus.EXITED]


def test_a_cancel_that_fails_does_not_keep_the_others_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = FakeCluster()
    error = RuntimeError("driver bug")
    backend = Flaky(cluster, fail_at=4, error=error, bad_cancels={0})
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError) as raised:
        launch_each(backend, _gang(4), grace_s=0.0)
    assert raised.value is error  # the launch's error, not the cancel's
    first, *rest = cluster.replicas.values()
    assert first.status is ReplicaStatus.STARTING  # its cancel failed
    assert [r.status for r in rest] == [ReplicaStatus.EXITED, ReplicaStatus.EXITED]
    assert "cancelling replica 0 after a failed gang launch" in caplog.text


def test_a_gang_that_launches_lands_on_aiplanes_nodes() -> None:
    cluster = FakeCluster()
    specs = [make_spec(replica=i, replicas=2, node=f"n{i}") for i in range(2)]
    landings = launch_each(FakeBackend(cluster), specs, grace_s=0.0)
    assert [(x.replica, x.node) for x in landings] == [(0, "n0"), (1, "n1")]
    assert _statuses(cluster) == [ReplicaStatus.STARTING, ReplicaStatus.STARTING]
