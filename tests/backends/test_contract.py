"""The backend contract: the core and every capability, over local and emulated (real
processes) and the fake. What only process backends promise is in ``process/``."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from aiplane.backends.base import (
    BatchPoll,
    GangSubmit,
    ProcessIds,
    ReplicaStatus,
    Serving,
)
from aiplane.core.errors import BackendError

from .drivers import Driver
from .helpers import wait_status, wait_until

_RUNNING_OR_STARTING = (ReplicaStatus.STARTING, ReplicaStatus.RUNNING)


def test_a_replica_runs_then_exits_zero_with_its_output(driver: Driver) -> None:
    backend = driver.backend
    handle = driver.launch("hello\n")
    assert backend.poll(handle).status in _RUNNING_OR_STARTING
    driver.start(handle)
    assert backend.poll(handle).status is ReplicaStatus.RUNNING
    driver.finish(handle, 0)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0
    assert "hello" in backend.logs(handle)


def test_a_nonzero_exit_code_propagates(driver: Driver) -> None:
    handle = driver.launch()
    driver.start(handle)
    driver.finish(handle, 3)
    assert wait_status(driver.backend, handle, ReplicaStatus.EXITED).exit_code == 3


def test_a_vanished_replica_is_lost_with_a_reason(driver: Driver) -> None:
    handle = driver.launch()
    driver.start(handle)
    driver.lose(handle)
    report = wait_status(driver.backend, handle, ReplicaStatus.LOST)
    assert report.exit_code is None and report.detail


def test_handle_is_json_and_describes_the_replica(driver: Driver) -> None:
    backend = driver.backend
    handle = driver.launch(accelerator="H100-80GB", gpus=2, gpu_indices=(0, 1))
    assert json.loads(json.dumps(handle)) == dict(handle)
    assert handle["backend"] == backend.name
    assert handle["emulated"] is backend.emulated
    assert handle["accelerator"] == "H100-80GB"
    driver.finish(handle, 0)


def test_launch_is_idempotent_also_after_the_replica_ended(driver: Driver) -> None:
    backend = driver.backend
    first = driver.launch()
    assert driver.launch() == first
    driver.start(first)
    driver.finish(first, 5)
    wait_status(backend, first, ReplicaStatus.EXITED)
    assert driver.launch() == first
    assert backend.poll(first) == wait_status(backend, first, ReplicaStatus.EXITED)
    assert backend.poll(first).exit_code == 5  # not started again
    assert backend.poll(first).cancelled is False  # said, not left unknown (decision 0032)


def test_other_replicas_and_attempts_are_separate(driver: Driver) -> None:
    handles = [
        driver.launch(replica=0),
        driver.launch(replica=1),
        driver.launch(replica=0, attempt=1),
    ]
    assert len({json.dumps(h, sort_keys=True) for h in handles}) == 3
    driver.start(handles[1])
    driver.finish(handles[1], 7)
    assert wait_status(driver.backend, handles[1], ReplicaStatus.EXITED).exit_code == 7
    assert driver.backend.poll(handles[0]).status in _RUNNING_OR_STARTING


def test_cancel_stops_a_running_replica(driver: Driver) -> None:
    handle = driver.launch()
    driver.start(handle)
    driver.backend.cancel(handle, grace_s=5)
    report = wait_status(driver.backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGTERM
    assert "cancelled" in report.detail
    assert report.cancelled is True


def test_cancel_right_after_launch(driver: Driver) -> None:
    handle = driver.launch()
    driver.backend.cancel(handle, grace_s=1)
    report = wait_status(driver.backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGTERM
    assert "cancelled" in report.detail


def test_cancel_is_quiet_about_ended_replicas(driver: Driver) -> None:
    backend = driver.backend
    handle = driver.launch()
    driver.start(handle)
    driver.finish(handle, 4)
    wait_status(backend, handle, ReplicaStatus.EXITED)
    backend.cancel(handle)
    backend.cancel(handle)
    assert backend.poll(handle).exit_code == 4
    lost = driver.launch(replica=1)
    driver.start(lost)
    driver.lose(lost)
    wait_status(backend, lost, ReplicaStatus.LOST)
    backend.cancel(lost)
    assert backend.poll(lost).status is ReplicaStatus.LOST


def test_a_new_backend_adopts_replicas_from_the_stored_handle(driver: Driver) -> None:
    handle = json.loads(json.dumps(driver.launch("up\n")))
    driver.start(handle)
    adopter = driver.fresh()
    assert adopter.poll(handle).status is ReplicaStatus.RUNNING
    wait_until(lambda: "up" in adopter.logs(handle))
    adopter.cancel(handle, grace_s=5)
    report = wait_status(adopter, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGTERM
    assert driver.backend.poll(handle) == report


def test_logs_tail(driver: Driver) -> None:
    backend = driver.backend
    handle = driver.launch("line one\nabcdefghij")
    driver.start(handle)
    wait_until(lambda: backend.logs(handle).endswith("abcdefghij"))
    assert backend.logs(handle, tail_bytes=4) == "ghij"
    assert backend.logs(handle, tail_bytes=0) == ""
    assert backend.logs(handle).endswith("line one\nabcdefghij")
    assert backend.logs(handle, tail_bytes=10**9) == backend.logs(handle)
    driver.finish(handle, 0)


def test_a_missing_workdir_is_a_backend_error(driver: Driver, tmp_path: Path) -> None:
    with pytest.raises(BackendError):
        driver.launch(workdir=str(tmp_path / "absent"))


def test_a_handle_from_elsewhere_is_refused(driver: Driver) -> None:
    with pytest.raises(BackendError):
        driver.backend.poll({})
    with pytest.raises(BackendError):
        driver.backend.cancel({})


# -- capabilities ------------------------------------------------------------------------------


def test_every_member_has_the_capabilities_that_fit_it(driver: Driver) -> None:
    for capability in (GangSubmit, BatchPoll, Serving, ProcessIds):
        assert isinstance(driver.backend, capability), capability.__name__


def test_a_gang_is_submitted_in_one_call_and_lands_replica_by_replica(driver: Driver) -> None:
    backend = driver.backend
    assert isinstance(backend, GangSubmit)
    specs = [driver.spec(replica=i, replicas=3, node=f"node-{i}") for i in range(3)]
    landings = backend.submit_gang(specs)
    assert [x.replica for x in landings] == [0, 1, 2]
    assert [x.node for x in landings] == ["node-0", "node-1", "node-2"]
    assert backend.submit_gang(specs) == landings  # idempotent, like launch
    for landing in landings:
        driver.start(landing.handle)
        assert driver.backend.poll(landing.handle).status is ReplicaStatus.RUNNING
        driver.finish(landing.handle, landing.replica)
    for landing in landings:
        report = wait_status(backend, landing.handle, ReplicaStatus.EXITED)
        assert report.exit_code == landing.replica


def test_a_gang_that_cannot_start_leaves_nothing_running(driver: Driver, tmp_path: Path) -> None:
    backend = driver.backend
    assert isinstance(backend, GangSubmit)
    good = driver.spec(replica=0, replicas=2)
    bad = driver.spec(replica=1, replicas=2, workdir=str(tmp_path / "absent"))
    with pytest.raises(BackendError):
        backend.submit_gang([good, bad])
    # Replica 0 was never started (launching it now starts it), or it was stopped.
    first = backend.launch(good)
    wait_until(lambda: backend.poll(first).status is not ReplicaStatus.RUNNING)
    report = backend.poll(first)
    assert report.status is ReplicaStatus.STARTING or "cancelled" in report.detail
    driver.finish(first, 0)


def test_a_batch_poll_reports_like_single_polls_in_order(driver: Driver) -> None:
    backend = driver.backend
    assert isinstance(backend, BatchPoll)
    running, failed, lost = (driver.launch(replica=i) for i in range(3))
    for handle in (running, failed, lost):
        driver.start(handle)
    driver.finish(failed, 9)
    wait_status(backend, failed, ReplicaStatus.EXITED)
    driver.lose(lost)
    wait_status(backend, lost, ReplicaStatus.LOST)
    reports = backend.poll_many([running, failed, lost, running])
    assert [r.status for r in reports] == [
        ReplicaStatus.RUNNING,
        ReplicaStatus.EXITED,
        ReplicaStatus.LOST,
        ReplicaStatus.RUNNING,
    ]
    assert reports[1] == backend.poll(failed)
    assert backend.poll_many([]) == []
    driver.finish(running, 0)


def test_a_serving_replica_has_an_address_readiness_and_drains(driver: Driver) -> None:
    backend = driver.backend
    assert isinstance(backend, Serving)
    handle = backend.launch(driver.server_spec())
    address = backend.address(handle)
    assert address is not None
    host, _, port = address.rpartition(":")
    assert host and 0 < int(port) < 65536
    driver.start(handle)
    wait_until(lambda: backend.ready(handle), what="the replica to accept connections")
    adopter = driver.fresh()
    assert isinstance(adopter, Serving)
    assert adopter.address(handle) == address and adopter.ready(handle)
    backend.drain(handle)
    backend.drain(handle)
    assert not backend.ready(handle) and not adopter.ready(handle)
    assert backend.poll(handle).status is ReplicaStatus.RUNNING  # drained, not stopped
    backend.cancel(handle, grace_s=5)
    wait_status(backend, handle, ReplicaStatus.EXITED)
    assert not backend.ready(handle)


def test_a_replica_that_does_not_listen_has_no_address(driver: Driver) -> None:
    backend = driver.backend
    assert isinstance(backend, Serving)
    handle = driver.launch()
    driver.start(handle)
    assert backend.address(handle) is None
    assert not backend.ready(handle)
    driver.finish(handle, 0)


def test_scaling_launches_new_replicas_and_retires_the_highest(driver: Driver) -> None:
    backend = driver.backend
    assert isinstance(backend, Serving)
    template = driver.server_spec(replicas=1)
    first = backend.launch(template)
    grown = backend.scale(template, [first], 3, grace_s=5)
    assert len(grown) == 3 and grown[0] == first
    assert [h["replica"] for h in grown] == [0, 1, 2]
    assert len({backend.address(h) for h in grown}) == 3
    for handle in grown:
        driver.start(handle)
    wait_until(lambda: all(backend.ready(h) for h in grown), what="three ready replicas")
    shrunk = backend.scale(template, grown, 1, grace_s=5)
    assert shrunk == [first]
    for retired in grown[1:]:
        assert not backend.ready(retired)
        wait_status(backend, retired, ReplicaStatus.EXITED)
    assert backend.ready(first)
    with pytest.raises(BackendError):
        backend.scale(template, shrunk, -1, grace_s=5)
    backend.cancel(first, grace_s=5)
