"""A replica's exit report says whether a cancel had reached it first: an exit 0 before one
is work done (a preempted victim that finished succeeds), an exit 0 after one is only how the
command took the stop (decision 0032)."""

from __future__ import annotations

from pathlib import Path

from aiplane.backends.base import Backend, ReplicaStatus
from aiplane.backends.process import runfiles
from tests.backends.helpers import make_spec, wait_status, wait_until


def test_an_exit_0_before_the_cancel_is_not_marked_cancelled(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="true"))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    backend.cancel(handle, grace_s=1.0)  # too late: the command had finished
    report = backend.poll(handle)
    assert (report.exit_code, report.cancelled) == (0, False)


def test_an_exit_0_on_sigterm_is_marked_cancelled(backend: Backend) -> None:
    command = "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    handle = backend.launch(make_spec(command=command))
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    wait_until(lambda: "ready" in backend.logs(handle), what="the trap installed")
    backend.cancel(handle, grace_s=5.0)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert (report.exit_code, report.cancelled) == (0, True)


def test_an_exit_record_that_does_not_say_reports_cancelled_unknown(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="true"))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    # As an older supervisor wrote it, without the field: not a claim that no cancel came.
    path = Path(handle["dir"]) / runfiles.EXIT
    record = runfiles.read_json(path)
    assert record is not None
    del record["cancelled"]
    runfiles.write_json(path, record)
    report = backend.poll(handle)
    assert (report.exit_code, report.cancelled) == (0, None)
