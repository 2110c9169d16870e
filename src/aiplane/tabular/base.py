"""What services see of the tabular adapter: a function from a file to its schema summary."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from aiplane.core.registry.records import TableSummary


class TableSummarizer(Protocol):
    """The schema and row count of a tabular file, None for a file that is not tabular; a
    file that claims to be tabular and cannot be read is a SpecError naming it."""

    def __call__(self, path: Path, relative_to: Path | None = None) -> TableSummary | None: ...
