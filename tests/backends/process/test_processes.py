"""What process backends (local, emulated) promise beyond the contract: real processes, their
environment, process groups, signals and supervisors, and handles that name directories."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, ReplicaStatus
from aiplane.backends.registry import build_backend
from aiplane.core.errors import BackendError
from tests.backends.helpers import (
    group_alive,
    make_spec,
    pid_alive,
    supervisor_record,
    wait_for_file,
    wait_status,
    wait_until,
)

# A command that runs until a file appears: lets a test end it without fixed sleeps.
_UNTIL = "while [ ! -e {stop} ]; do sleep 0.05; done"


def test_exit_zero_with_output_and_replica_env(backend: Backend, tmp_path: Path) -> None:
    spec = make_spec(
        command="echo hello from $AIPLANE_RUN_ID; env | grep ^AIPLANE_; echo FOO=$FOO",
        env={"FOO": "bar"},
        replica=1,
        attempt=2,
        checkpoint_dir=str(tmp_path / "ckpt" / "run-1"),
    )
    handle = backend.launch(spec)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0
    out = backend.logs(handle)
    assert "hello from run-1" in out
    for line in (
        "AIPLANE_RUN_ID=run-1",
        "AIPLANE_JOB_ID=job-1",
        "AIPLANE_ATTEMPT=2",
        "AIPLANE_REPLICA_INDEX=1",
        "AIPLANE_NUM_REPLICAS=2",
        "AIPLANE_SITE=onprem-fra",
        "AIPLANE_POOL=dgx-h100",
        "AIPLANE_NODE=node-0",
        f"AIPLANE_BACKEND={backend.name}",
        f"AIPLANE_EMULATED={'1' if backend.emulated else '0'}",
        f"AIPLANE_CHECKPOINT_DIR={tmp_path / 'ckpt' / 'run-1'}",
        "FOO=bar",
    ):
        assert line in out.splitlines(), line
    assert (tmp_path / "ckpt" / "run-1").is_dir()


def test_death_by_signal_is_128_plus_signal(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="kill -KILL $$"))
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGKILL
    assert "SIGKILL" in report.detail


def test_workdir_is_the_cwd(backend: Backend, tmp_path: Path) -> None:
    workdir = tmp_path / "wd"
    workdir.mkdir()
    handle = backend.launch(make_spec(command="pwd", workdir=str(workdir)))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    assert str(workdir) in backend.logs(handle).splitlines()


def test_launch_is_idempotent(backend: Backend, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    spec = make_spec(command=f"echo started >> {counter}")
    first = backend.launch(spec)
    second = backend.launch(spec)
    assert second == first
    wait_status(backend, first, ReplicaStatus.EXITED)
    assert backend.launch(spec) == first  # also after it exited
    assert counter.read_text().splitlines() == ["started"]


def test_concurrent_launches_start_one_process(backend: Backend, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    spec = make_spec(command=f"echo started >> {counter}")
    handles = []
    threads = [
        threading.Thread(target=lambda: handles.append(backend.launch(spec))) for _ in "abcd"
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(handles) == 4 and all(h == handles[0] for h in handles)
    wait_status(backend, handles[0], ReplicaStatus.EXITED)
    assert counter.read_text().splitlines() == ["started"]


def test_cancel_stops_a_running_command(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="sleep 60"))
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    pgid = supervisor_record(handle)["child_pgid"]
    backend.cancel(handle, grace_s=5)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGTERM
    assert "cancelled" in report.detail
    assert not group_alive(pgid)


def test_cancel_stops_grandchildren(backend: Backend, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    handle = backend.launch(make_spec(command=f"sleep 60 & echo $! > {pidfile}; wait"))
    grandchild = int(wait_for_file(pidfile))
    assert pid_alive(grandchild)
    backend.cancel(handle, grace_s=5)
    wait_status(backend, handle, ReplicaStatus.EXITED)
    wait_until(lambda: not pid_alive(grandchild), what="the grandchild to die")


def test_cancel_escalates_to_sigkill_after_grace(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="trap '' TERM; echo ready; sleep 60"))
    wait_until(lambda: "ready" in backend.logs(handle), what="the TERM trap")
    backend.cancel(handle, grace_s=0.5)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGKILL


def test_background_leftovers_are_stopped_when_the_command_exits(
    backend: Backend, tmp_path: Path
) -> None:
    pidfile = tmp_path / "leftover.pid"
    handle = backend.launch(make_spec(command=f"sleep 60 & echo $! > {pidfile}; exit 0"))
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0
    # An exit record means the whole group is gone, so its GPUs are free again.
    assert not pid_alive(int(pidfile.read_text()))


def test_a_new_backend_adopts_replicas_from_the_handle(backend: Backend, work_root: Path) -> None:
    stored = json.dumps(backend.launch(make_spec(command=f"echo up; {_UNTIL}".format(stop="x"))))
    handle = json.loads(stored)
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    adopter = build_backend(backend.name, work_root)
    assert adopter.poll(handle).status == ReplicaStatus.RUNNING
    wait_until(lambda: "up" in adopter.logs(handle))
    adopter.cancel(handle, grace_s=5)
    report = wait_status(adopter, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 128 + signal.SIGTERM
    assert backend.poll(handle) == report


def test_child_outliving_its_supervisor_is_running_then_lost(
    backend: Backend, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    handle = backend.launch(make_spec(command=_UNTIL.format(stop=stop)))
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    record = supervisor_record(handle)
    os.kill(record["pid"], signal.SIGKILL)
    wait_until(
        lambda: backend.poll(handle).detail == "supervisor gone, child alive",
        what="the supervisor to be seen gone",
    )
    assert backend.poll(handle).status == ReplicaStatus.RUNNING
    stop.touch()
    report = wait_status(backend, handle, ReplicaStatus.LOST)
    assert "without recording an exit" in report.detail


def test_cancel_without_supervisor_kills_the_group(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="trap '' TERM; echo ready; sleep 60"))
    wait_until(lambda: "ready" in backend.logs(handle), what="the TERM trap")
    record = supervisor_record(handle)
    os.kill(record["pid"], signal.SIGKILL)
    wait_until(lambda: backend.poll(handle).detail == "supervisor gone, child alive")
    backend.cancel(handle, grace_s=0.3)  # TERM is ignored: needs the control plane's SIGKILL
    wait_status(backend, handle, ReplicaStatus.LOST)
    assert not group_alive(record["child_pgid"])


def test_logs_decode_invalid_utf8(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="printf 'ok\\377\\n'"))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    assert "ok\ufffd" in backend.logs(handle)


def test_handle_whose_directory_vanished_is_lost(backend: Backend, work_root: Path) -> None:
    handle = {"dir": str(work_root / "runs" / "gone" / "a0" / "r0"), "backend": backend.name}
    assert backend.poll(handle).status == ReplicaStatus.LOST
    backend.cancel(handle)
    assert backend.logs(handle) == ""


def test_handle_outside_the_work_root_is_refused(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(BackendError):
        backend.poll({"dir": str(tmp_path / "elsewhere")})
    with pytest.raises(BackendError):
        backend.cancel({"dir": "/"})
    with pytest.raises(BackendError):
        backend.poll({})


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "", ".hidden"])
def test_run_ids_that_cannot_name_a_directory_are_refused(backend: Backend, run_id: str) -> None:
    with pytest.raises(BackendError):
        backend.launch(make_spec(run_id=run_id))


def test_replica_pythonpath_cannot_break_the_supervisor(backend: Backend, tmp_path: Path) -> None:
    # ``types`` is imported by every Python start-up path that matters; shadowing it would kill
    # a supervisor that ran with the replica's PYTHONPATH.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "types.py").write_text("raise SystemExit('shadowed types imported')\n")
    spec = make_spec(command="echo pythonpath=$PYTHONPATH", env={"PYTHONPATH": str(shadow)})
    handle = backend.launch(spec)
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 0
    assert f"pythonpath={shadow}" in backend.logs(handle)


def test_environment_file_does_not_outlive_the_start(backend: Backend) -> None:
    # It may hold the spec's secrets; the process environment is the only copy left.
    handle = backend.launch(make_spec(command="echo $SECRET", env={"SECRET": "s3cr3t"}))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    assert "s3cr3t" in backend.logs(handle)
    leftovers = [p.name for p in Path(handle["dir"]).iterdir()]
    assert "env.json" not in leftovers
    assert not [name for name in leftovers if name.startswith(".tmp-")]
