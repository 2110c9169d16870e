"""A replica's ``output.log``, opened so that the replica cannot point it elsewhere.

The replica runs in (or can write to) its run directory, so it can replace ``output.log`` with
a symbolic link, a hard link, a FIFO or a directory. The control plane reads the file for
anyone who may read the job's logs, and may write its banner into it: following what the
replica planted would hand a viewer whatever the control plane itself can read (issue #10,
``/etc/shadow``), or append to a file the replica chose. So the file is opened without following
a final link (``O_NOFOLLOW``), without blocking on a FIFO (``O_NONBLOCK``), and then checked:
a regular file with one name, whose real path is ``<run dir>/output.log`` (which also refuses a
run directory that a link swapped out from under the path after it was resolved).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from aiplane.backends.process import runfiles
from aiplane.core.errors import BackendError

_COMMON = os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC


def read(rundir: Path, tail_bytes: int | None = None) -> bytes:
    """The output of the replica whose (resolved) run directory is ``rundir``; its last
    ``tail_bytes`` only when given. Empty before the file exists; a BackendError when it is
    anything but the run's own regular file."""
    path = rundir / runfiles.OUTPUT
    try:
        fd = os.open(path, os.O_RDONLY | _COMMON)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise _refusal(path, exc) from None
    try:
        _check(fd, path)  # before fdopen, which refuses a directory with an error of its own
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        if tail_bytes is not None:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max(0, tail_bytes)))
        return f.read()


def open_append(rundir: Path) -> int:
    """A descriptor appending to the run's ``output.log``, created if absent, refused (and
    nothing written) when something other than the run's own regular file holds the name."""
    path = rundir / runfiles.OUTPUT
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _COMMON, 0o666)
    except OSError as exc:
        raise _refusal(path, exc) from None
    try:
        _check(fd, path)
        os.set_blocking(fd, True)  # the supervisor's output must not see EAGAIN
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, _kind(info.st_mode))
    if info.st_nlink > 1:
        # A hard link made by the replica: its other name may be a file it chose.
        raise _not_regular(path, f"a file with {info.st_nlink} names (a hard link)")
    real = _real_path(fd, path)
    if real != path:
        raise _not_regular(path, f"a file at {real}")


def _real_path(fd: int, path: Path) -> Path:
    """Where the opened file really is: the kernel's own answer on Linux (no race with the
    path changing after the open), the path resolved again elsewhere."""
    with contextlib.suppress(OSError):
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    return Path(os.path.realpath(path))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _refusal(path: Path, exc: OSError) -> BackendError:
    if exc.errno == errno.ELOOP or os.path.islink(path):
        return _not_regular(path, "a symbolic link")
    return BackendError(f"cannot open the replica's output {path}: {exc.strerror}")


def _not_regular(path: Path, what: str) -> BackendError:
    # The message names what is there, never what it points at or contains.
    return BackendError(
        f"{runfiles.OUTPUT} is not a regular file of the run ({path} is {what}); "
        "its output is not shown"
    )
