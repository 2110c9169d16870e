"""The service capability, over every serving member (local, emulated, fake): a replica that is
ready once its readiness path answers, restarted on its address when it crashes, taken out of
rotation by a drain, stopped for good by a cancel, and adopted with its restarts (decision
0053). What only process backends promise (back-off delays, a held port) is in
``process/test_service.py``."""

from __future__ import annotations

import json
import signal
from dataclasses import replace

from aiplane.backends.base import Backend, Handle, ReplicaReport, ReplicaStatus, Serving

from .drivers import FAST_RESTARTS, Driver
from .helpers import wait_status, wait_until


def _serving(backend: Backend) -> Serving:
    assert isinstance(backend, Serving)
    return backend


def _ready(driver: Driver, handle: Handle) -> None:
    serving = _serving(driver.backend)
    driver.up(handle)
    driver.answer(handle)
    wait_until(lambda: serving.ready(handle), what="the service to answer its readiness path")


def _restarted(driver: Driver, handle: Handle, count: int) -> ReplicaReport:
    """Waits for the ``count``-th restart, checking that every report meanwhile said the
    replica runs (it is still the endpoint's replica while it restarts)."""

    def reached() -> ReplicaReport | None:
        report = driver.backend.poll(handle)
        assert report.status is ReplicaStatus.RUNNING, report
        return report if report.restarts is not None and report.restarts.count >= count else None

    return wait_until(reached, what=f"restart {count}")


def test_a_service_is_ready_only_once_its_readiness_path_answers(driver: Driver) -> None:
    serving = _serving(driver.backend)
    handle = json.loads(json.dumps(driver.backend.launch(driver.service_spec())))
    assert serving.address(handle) is not None
    driver.up(handle)  # it accepts connections: a TCP probe would call it ready
    assert not serving.ready(handle)
    driver.answer(handle)
    wait_until(lambda: serving.ready(handle), what="the readiness path to answer")
    assert _serving(driver.fresh()).ready(handle)  # from the stored handle alone
    driver.backend.cancel(handle, grace_s=5)
    wait_status(driver.backend, handle, ReplicaStatus.EXITED)
    assert not serving.ready(handle)


def test_a_service_without_a_readiness_path_is_ready_once_it_listens(driver: Driver) -> None:
    serving = _serving(driver.backend)
    handle = driver.backend.launch(driver.service_spec(replace(FAST_RESTARTS, readiness_path=None)))
    driver.up(handle)
    wait_until(lambda: serving.ready(handle), what="the service to accept connections")
    driver.backend.cancel(handle, grace_s=5)
    wait_status(driver.backend, handle, ReplicaStatus.EXITED)


def test_a_crashed_service_is_restarted_on_its_address_and_adopted(driver: Driver) -> None:
    serving = _serving(driver.backend)
    handle = json.loads(json.dumps(driver.backend.launch(driver.service_spec())))
    address = serving.address(handle)
    _ready(driver, handle)
    driver.crash(handle, 3)
    first = _restarted(driver, handle, 1)
    assert first.restarts is not None and first.restarts.last_exit_code == 3
    assert first.restarts.last_exit_at is not None and first.exit_code is None
    wait_until(lambda: serving.ready(handle), what="the restarted service to answer")
    assert serving.address(handle) == address
    driver.crash(handle, 0)  # any exit of a service is a crash, a clean one too
    second = _restarted(driver, handle, 2)
    assert second.restarts is not None and second.restarts.last_exit_code == 0
    adopter = driver.fresh()  # a restarted control plane, from the stored handle
    adopted = adopter.poll(handle)
    assert adopted.status is ReplicaStatus.RUNNING
    assert adopted.restarts is not None and adopted.restarts.count == 2
    wait_until(lambda: _serving(adopter).ready(handle), what="the adopted service to answer")
    assert _serving(adopter).address(handle) == address
    adopter.cancel(handle, grace_s=5)
    ended = wait_status(adopter, handle, ReplicaStatus.EXITED)
    assert ended.cancelled is True
    assert ended.restarts is not None and ended.restarts.count == 2  # kept after the end


def test_drain_takes_a_service_out_of_rotation_and_cancel_stops_it_for_good(
    driver: Driver,
) -> None:
    backend, serving = driver.backend, _serving(driver.backend)
    spec = driver.service_spec()
    handle = backend.launch(spec)
    _ready(driver, handle)
    serving.drain(handle)
    assert not serving.ready(handle)
    assert backend.poll(handle).status is ReplicaStatus.RUNNING  # drained, not stopped
    backend.cancel(handle, grace_s=5)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.cancelled is True and report.exit_code == 128 + signal.SIGTERM
    assert report.restarts is None  # a stop is not a crash
    assert backend.launch(spec) == handle  # idempotent: not started again either
    assert backend.poll(handle) == report and not serving.ready(handle)


def test_a_drained_service_that_exits_is_not_restarted(driver: Driver) -> None:
    backend, serving = driver.backend, _serving(driver.backend)
    handle = backend.launch(driver.service_spec())
    _ready(driver, handle)
    serving.drain(handle)
    driver.crash(handle, 0)  # it finished what it had, and left
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0 and report.restarts is None
    assert report.cancelled is False  # no cancel reached it
