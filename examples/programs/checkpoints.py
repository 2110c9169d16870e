"""Checkpoints for the example programs: one JSON file, written atomically.

aiplane gives each run a checkpoint directory in $AIPLANE_CHECKPOINT_DIR; a run that is
preempted and started again finds its last checkpoint there and carries on from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def checkpoint_path(name: str = "checkpoint.json") -> Path | None:
    directory = os.environ.get("AIPLANE_CHECKPOINT_DIR", "")
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    return Path(directory) / name


def load(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        print(f"checkpoint {path} is unreadable; starting afresh", flush=True)
        return None
    return state if isinstance(state, dict) else None


def save(path: Path | None, state: dict[str, Any]) -> None:
    if path is None:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)  # readers see the old checkpoint or the new one, never half of one
