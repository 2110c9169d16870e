"""What ``models register`` and ``datasets register`` check of their files before they
connect: the folder (regular files only) and the ``--signature`` JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiplane.client import TransferError
from aiplane.client._artifacts import files_of
from aiplane.core.errors import Problem, SpecError


def folder_bytes(path: Path) -> int:
    """What the progress bar counts to. Found before connecting, so that a folder that cannot
    be registered as it is (a symbolic link in it) is refused at once as bad input."""
    try:
        return sum(p.stat().st_size for _, p in files_of(path))
    except TransferError as exc:
        raise SpecError(
            "cannot register the folder",
            [Problem("--path", str(exc), str(path), "a folder of regular files")],
        ) from None


def io_signature(path: Path | None) -> dict[str, Any]:
    """``--signature FILE.json``: the model's input/output signature, a JSON object."""
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            "cannot read --signature", [Problem("--signature", str(exc), str(path), "a JSON file")]
        ) from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            "invalid --signature",
            [Problem(f"{path}:{exc.lineno}:{exc.colno}", exc.msg, None, "a JSON object")],
        ) from None
    if not isinstance(document, dict):
        raise SpecError(
            "invalid --signature",
            [Problem(str(path), "not a JSON object", type(document).__name__, "a JSON object")],
        )
    return document
