"""What the fake promises beyond the contract: scripting, a record of calls, chosen nodes."""

from __future__ import annotations

import pytest

from aiplane.backends.base import GpuDevice, GpuInventory, ReplicaStatus, Restarts
from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.core.errors import BackendError
from aiplane.core.workloads import ServiceSpec

from .helpers import make_spec


def test_calls_are_recorded_in_order() -> None:
    cluster = FakeCluster()
    fake = FakeBackend(cluster)
    handle = fake.launch(make_spec())
    fake.poll(handle)
    fake.poll_many([handle, handle])
    fake.cancel(handle)
    assert cluster.calls == [
        ("launch", "run-1/a0/r0"),
        ("poll", "run-1/a0/r0"),
        ("poll_many", 2),
        ("cancel", "run-1/a0/r0"),
    ]
    assert cluster.calls_named("poll") == [("poll", "run-1/a0/r0")]


def test_a_fake_that_chooses_nodes_reports_them_and_keeps_them() -> None:
    cluster = FakeCluster()
    fake = FakeBackend(cluster, {"chooses_nodes": True, "cluster": "ray-a"})
    specs = [make_spec(replica=i, node="aiplane-node") for i in range(2)]
    landings = fake.submit_gang(specs)
    assert [x.node for x in landings] == ["ray-a/0", "ray-a/1"]
    assert fake.submit_gang(specs) == landings  # the same replicas, on the same nodes
    assert landings[0].handle["cluster"] == "ray-a"


def test_a_scripted_failure_counts_launches_and_fails_a_gang_whole() -> None:
    cluster = FakeCluster()
    fake = FakeBackend(cluster)
    cluster.fail_launch("quota exceeded", after=1)
    fake.launch(make_spec(replica=0))
    with pytest.raises(BackendError, match="quota exceeded"):
        fake.submit_gang([make_spec(replica=1), make_spec(replica=2)])
    assert set(cluster.replicas) == {"run-1/a0/r0"}
    fake.submit_gang([make_spec(replica=1)])  # once only
    assert len(cluster.replicas) == 2


def test_an_ended_replica_stays_ended() -> None:
    cluster = FakeCluster()
    fake = FakeBackend(cluster)
    handle = fake.launch(make_spec())
    cluster.finish(handle, 2)
    cluster.start(handle)
    cluster.lose(handle)
    assert fake.poll(handle).status is ReplicaStatus.EXITED and fake.poll(handle).exit_code == 2


def test_pids_and_gpus_are_what_the_test_says() -> None:
    gpu = GpuDevice(0, "H100-80GB", 80.0)
    cluster = FakeCluster(gpus=[gpu])
    fake = FakeBackend(cluster)
    assert isinstance(fake, GpuInventory) and fake.gpus() == [gpu]
    handle = fake.launch(make_spec())
    cluster.set_pids(handle, frozenset({42}))
    assert fake.pids(handle) == frozenset()  # not running yet
    cluster.start(handle)
    assert fake.pids(handle) == frozenset({42})
    fake.cancel(handle)
    assert fake.pids(handle) == frozenset()


def test_a_handle_it_never_gave_is_lost_and_a_foreign_one_refused() -> None:
    fake = FakeBackend()
    assert fake.poll({"id": "other/a0/r0"}).status is ReplicaStatus.LOST
    assert fake.logs({"id": "other/a0/r0"}) == ""
    with pytest.raises(BackendError):
        fake.logs({"dir": "/srv/replicas"})
    with pytest.raises(BackendError):
        fake.drain({"id": "other/a0/r0"})


def test_a_fake_service_counts_its_restarts_by_the_clusters_clock() -> None:
    cluster = FakeCluster(clock=lambda: 1234.5)
    fake = FakeBackend(cluster)
    handle = fake.launch(make_spec(service=ServiceSpec(readiness_path="/ready")))
    cluster.start(handle)
    cluster.serve(handle)
    cluster.finish(handle, 1)
    report = fake.poll(handle)
    assert report.status is ReplicaStatus.RUNNING
    assert report.restarts == Restarts(1, 1, 1234.5)
    assert report.detail == "restarted after exit 1 (restart 1)"
    assert not fake.ready(handle)  # until it is served again
    once = fake.launch(make_spec(replica=1, service=ServiceSpec(restart=False)))
    cluster.start(once)
    cluster.finish(once, 1)
    assert fake.poll(once).status is ReplicaStatus.EXITED
