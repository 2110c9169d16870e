"""The workload's resource limits hold for its command (decision 0036).

Each command hits its limit within a second or two; the limits are the kernel's rlimits, set in
the command's process and not in the supervisor's.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, ReplicaStatus
from aiplane.backends.process import confine
from aiplane.backends.registry import build_backend
from aiplane.core.workloads import ProcessLimits
from tests.backends.drivers import kill_replicas
from tests.backends.helpers import make_spec, supervisor_record, wait_status

NOBODY = "nobody"


def _python(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


@pytest.fixture
def work_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "work"
    kill_replicas(tmp_path / "work")


@pytest.fixture
def backend(work_root: Path) -> Backend:
    return build_backend("local", work_root, {})


def _run(backend: Backend, command: str, limits: ProcessLimits, run_id: str = "run-1") -> str:
    handle = backend.launch(make_spec(run_id=run_id, command=command, limits=limits))
    wait_status(backend, handle, ReplicaStatus.EXITED)
    return backend.logs(handle)


OPEN_MANY = _python(
    "import errno, os\n"
    "fds = []\n"
    "try:\n"
    "    while len(fds) < 200: fds.append(os.open('/dev/null', os.O_RDONLY))\n"
    "    print('OPENED', len(fds))\n"
    "except OSError as exc:\n"
    "    print('FAILED', errno.errorcode[exc.errno], 'after', len(fds))\n"
)


def test_open_files_beyond_the_limit_fail_with_emfile(backend: Backend) -> None:
    assert "OPENED 200" in _run(backend, OPEN_MANY, ProcessLimits(), "free")
    log = _run(backend, OPEN_MANY, ProcessLimits(open_files=32), "limited")
    assert "FAILED EMFILE" in log, log
    opened = int(log.split("after")[1].split()[0])
    assert opened < 32


BURN = _python("while True: pass")


def test_cpu_time_beyond_the_limit_kills_the_command_and_says_why(backend: Backend) -> None:
    handle = backend.launch(make_spec(command=BURN, limits=ProcessLimits(cpu_seconds=1)))
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    # Directly or through the shell, which reports its child's signal as 128 + N.
    assert report.exit_code == 128 + signal.SIGXCPU, report
    assert "CPU time limit of 1 s reached" in report.detail, report.detail


ALLOCATE = _python(
    "import sys\n"
    "try:\n"
    "    block = bytearray(int(sys.argv[1]) * 2**20)\n"
    "    print('ALLOCATED', len(block) >> 20)\n"
    "except MemoryError:\n"
    "    print('NO MEMORY')\n"
)


def test_memory_limit_makes_a_big_allocation_fail_and_a_small_one_work(backend: Backend) -> None:
    limits = ProcessLimits(memory_bytes=256 * 2**20)
    assert "ALLOCATED 32" in _run(backend, f"{ALLOCATE} 32", limits, "small")
    assert "NO MEMORY" in _run(backend, f"{ALLOCATE} 512", limits, "big")
    assert "ALLOCATED 512" in _run(backend, f"{ALLOCATE} 512", ProcessLimits(), "free")


def test_the_supervisor_keeps_its_own_limits(backend: Backend) -> None:
    handle = backend.launch(make_spec(command="sleep 30", limits=ProcessLimits(open_files=16)))
    wait_status(backend, handle, ReplicaStatus.RUNNING)
    record = supervisor_record(handle)
    # The record is written right after the fork; the child sets its limits just before exec.
    assert _eventually_soft_nofile(record["child_pid"], 16) == 16
    assert _soft_nofile(record["pid"]) != 16
    backend.cancel(handle, grace_s=0.1)
    wait_status(backend, handle, ReplicaStatus.EXITED)


def _eventually_soft_nofile(pid: int, expected: int, within_s: float = 5.0) -> int:
    deadline = time.monotonic() + within_s
    while (seen := _soft_nofile(pid)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return seen


def _soft_nofile(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError(f"no open files limit for {pid}")


# -- processes (needs another user: RLIMIT_NPROC does not hold for root) -----------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")

# The shell is one process, the background sleep a second: the third fork must fail.
FORK_TWICE = "sleep 5 & if /bin/true; then echo FORKED; fi; kill $!"


@needs_root
def test_processes_limit_makes_fork_fail(work_root: Path) -> None:
    backend = build_backend("local", work_root, {"run_as": {"user": NOBODY}})
    assert "FORKED" in _run(backend, FORK_TWICE, ProcessLimits(), "free")
    log = _run(backend, FORK_TWICE, ProcessLimits(processes=2), "limited")
    assert "FORKED" not in log, log
    assert "fork" in log.lower(), log


# -- exit reasons ------------------------------------------------------------------------------


def test_a_sigkill_after_the_cpu_time_is_the_hard_limit_and_other_ends_are_not_limits() -> None:
    limited = confine.Confinement(cpu_seconds=2)
    killed = signal.SIGKILL  # a raw wait status: terminated by the signal
    assert confine.exit_reason(limited, killed, 7.0) is not None
    assert confine.exit_reason(limited, killed, 0.5) is None  # killed, but not for CPU time
    assert confine.exit_reason(limited, 0, 9.0) is None  # exited by itself
    assert confine.exit_reason(confine.Confinement(), signal.SIGXCPU, 9.0) is None


# -- the pool's limits: defaults and ceilings --------------------------------------------------


def test_the_pools_limits_are_the_default_and_the_most_a_workload_gets(work_root: Path) -> None:
    pool = {"limits": {"open_files": 64, "memory": "1Gi"}}
    backend = build_backend("local", work_root, pool)
    # None of its own: the pool's. A lower one of its own: that one. A higher one: the pool's.
    for run_id, own, expected in (
        ("default", ProcessLimits(), 64),
        ("lower", ProcessLimits(open_files=32), 32),
        ("higher", ProcessLimits(open_files=4096), 64),
    ):
        handle = backend.launch(make_spec(run_id=run_id, command="sleep 30", limits=own))
        wait_status(backend, handle, ReplicaStatus.RUNNING)
        assert _soft_nofile(supervisor_record(handle)["child_pid"]) == expected, run_id
        backend.cancel(handle, grace_s=0.1)
        wait_status(backend, handle, ReplicaStatus.EXITED)
        log = backend.logs(handle)
        assert f"memory_bytes={2**30} open_files={expected}" in log, log


def test_a_limit_the_kernel_refuses_fails_the_command_naming_the_limit(backend: Backend) -> None:
    # Above the kernel's nr_open: refused by setrlimit even for root (the spec bounds it).
    too_many = 2 * 1024 * 1024 * 1024
    handle = backend.launch(
        make_spec(command="echo RAN", limits=ProcessLimits(open_files=too_many))
    )
    report = wait_status(backend, handle, ReplicaStatus.EXITED)
    assert report.exit_code == 127
    log = backend.logs(handle)
    assert f"cannot set open_files to {too_many}" in log and "RAN" not in log.splitlines(), log
