"""Where a command writes: checked before the work, so that a long export or replay never
ends in a traceback over a path that could not have worked."""

from __future__ import annotations

import os
from pathlib import Path

from aiplane.core.errors import Problem, SpecError


def output_file(path: Path, option: str) -> Path:
    """``path`` as a file to (over)write: not a directory, in a directory that exists and
    that this user may write."""
    where = str(path)
    if path.is_dir():
        raise SpecError(
            "cannot write the output",
            [Problem(option, "is a directory", where, "a file path")],
        )
    parent = path.parent if str(path.parent) else Path()
    if parent.exists() and not parent.is_dir():
        raise SpecError(
            "cannot write the output",
            [Problem(option, "is under a file, not a directory", str(parent), "a directory")],
        )
    if not parent.is_dir():
        raise SpecError(
            "cannot write the output",
            [Problem(option, "its directory does not exist", str(parent), "an existing directory")],
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise SpecError(
            "cannot write the output",
            [Problem(option, "not writable by this user", where, "a writable file")],
        )
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(
            "cannot write the output",
            [Problem(option, "its directory is not writable", str(parent), "a writable directory")],
        )
    if not path.exists():
        _try_create(path, option)
    return path


def _try_create(path: Path, option: str) -> None:
    """Make and remove ``path``: permission bits do not tell all (root passes them; /proc
    and read-only mounts refuse a new file whatever they say)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # made meanwhile: writing it is the command's business
    except OSError as exc:
        raise SpecError(
            "cannot write the output",
            [Problem(option, f"cannot create it: {exc.strerror}", str(path), "a writable path")],
        ) from None
    os.close(fd)
    path.unlink()
