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
    return path
