"""Printing: Rich tables for people, JSON for scripts, errors to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from aiplane.wire.jobs import PlacementOut

console = Console()
err_console = Console(stderr=True)


def _jsonable(data: Any) -> Any:
    """API models as the server sent them (by alias: a report's ``from``)."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", by_alias=True)
    if isinstance(data, list):
        return [_jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: _jsonable(value) for key, value in data.items()}
    return data


def print_json(data: Any) -> None:
    text = json.dumps(_jsonable(data), indent=2, sort_keys=True, default=str)
    sys.stdout.write(text + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``3 files`` (``plural`` where adding an s is wrong: aliases)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: float | None, end: float | None) -> str:
    if start is None:
        return "-"
    if end is None:
        return "-"
    seconds = max(0.0, end - start)
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def where(placement: PlacementOut | None) -> str:
    if placement is None:
        return "-"
    return placement.pool + (" (emulated)" if placement.emulated else "")
