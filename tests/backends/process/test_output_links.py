"""A replica that plants a link at its ``output.log`` (issue #10): the backend's logs refuse
it and never show what the link points at; a launch never writes through one either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, ReplicaStatus
from aiplane.core.errors import BackendError
from tests.backends.helpers import make_spec, wait_status

MARKER = "SECRET-MARKER-7f3a"


def _secret(tmp_path: Path) -> Path:
    target = tmp_path / "outside" / "secret.txt"
    target.parent.mkdir()
    target.write_text(f"{MARKER}\n")
    return target


def _run(backend: Backend, command: str) -> str:
    """Run ``command`` as a replica (in its run directory) to its end; the handle's logs."""
    handle = backend.launch(make_spec(command=command))
    assert wait_status(backend, handle, ReplicaStatus.EXITED).exit_code == 0
    return backend.logs(handle)


@pytest.mark.parametrize("tail_bytes", [None, 1000])
def test_a_symlink_planted_at_output_log_is_refused(
    backend: Backend, tmp_path: Path, tail_bytes: int | None
) -> None:
    target = _secret(tmp_path)
    handle = backend.launch(
        make_spec(command=f"echo before; ln -s {target} link && mv -f link output.log")
    )
    wait_status(backend, handle, ReplicaStatus.EXITED)
    assert os.path.islink(Path(handle["dir"]) / "output.log")
    with pytest.raises(BackendError, match=r"output\.log is not a regular file of the run") as exc:
        backend.logs(handle, tail_bytes)
    assert "symbolic link" in exc.value.message
    assert MARKER not in exc.value.message


def test_a_hard_link_at_output_log_is_refused(backend: Backend, tmp_path: Path) -> None:
    target = _secret(tmp_path)
    # Same file system as the run directory (tmp_path), so the hard link can be made.
    with pytest.raises(BackendError, match="not a regular file of the run") as exc:
        _run(backend, f"ln {target} link && mv -f link output.log")
    assert "hard link" in exc.value.message
    assert MARKER not in exc.value.message


def test_a_directory_at_output_log_is_refused(backend: Backend) -> None:
    with pytest.raises(BackendError, match="a directory"):
        _run(backend, "rm output.log && mkdir output.log")


def test_the_own_regular_output_log_still_reads(backend: Backend) -> None:
    assert "hello" in _run(backend, "echo hello").splitlines()


def test_launch_does_not_append_through_a_planted_link(backend: Backend, tmp_path: Path) -> None:
    # A replica can write to a later attempt's run directory before it exists (it runs as the
    # same user): the launch must not follow a link it finds there at output.log.
    target = _secret(tmp_path)
    spec = make_spec(attempt=1)
    first = Path(backend.launch(make_spec(command="true"))["dir"])  # attempt 0's run dir
    rundir = first.parent.parent / "a1" / "r0"
    rundir.mkdir(parents=True)
    (rundir / "output.log").symlink_to(target)
    with pytest.raises(BackendError, match="symbolic link"):
        backend.launch(spec)
    assert target.read_text() == f"{MARKER}\n"
    assert not (rundir / "launch.json").exists()  # a retry may launch once the link is gone
