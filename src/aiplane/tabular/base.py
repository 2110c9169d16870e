"""What services see of the tabular adapter: a file's schema summary, and its columns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from aiplane.core.drift.columns import Column, ColumnType
from aiplane.core.registry.records import TableSummary


class TableSummarizer(Protocol):
    """The schema and row count of a tabular file, None for a file that is not tabular; a
    file that claims to be tabular and cannot be read is a SpecError naming it."""

    def __call__(self, path: Path, relative_to: Path | None = None) -> TableSummary | None: ...


class ColumnReader(Protocol):
    """The columns of a Parquet or CSV file as the drift engine takes them.

    ``schema`` gives each column's kind (None for a kind the engine does not test, such as
    a timestamp); ``read`` reads only the named columns: numbers as float64 arrays (missing
    values NaN), anything else as dictionary codes (missing -1). A file that is missing or
    cannot be read is a SpecError naming it.
    """

    def schema(self, path: Path) -> dict[str, ColumnType | None]: ...

    def read(self, path: Path, names: Sequence[str]) -> tuple[int, dict[str, Column]]: ...
