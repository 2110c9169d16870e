"""The exporter protocol: a typed table in, a file's bytes out.

Services compute tables (the cost service's FOCUS columns); an exporter only encodes them, so
a new format is a new member and no service changes. Every member passes
``tests/exporters/test_contract.py``: what it wrote reads back as the same values and types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, BinaryIO, Protocol


class ColumnType(StrEnum):
    FLOAT = "float"
    INT = "int"
    STRING = "string"


@dataclass(frozen=True)
class Table:
    """Named columns of equal length, in file order; each value of its column's type, or
    None for an empty cell."""

    columns: Mapping[str, Sequence[Any]]
    types: Mapping[str, ColumnType]

    def __post_init__(self) -> None:
        if set(self.types) != set(self.columns):
            raise ValueError("every column needs exactly one type")
        if len({len(values) for values in self.columns.values()}) > 1:
            raise ValueError("columns differ in length")

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()), ()))


class Exporter(Protocol):
    @property
    def suffix(self) -> str:
        """The file name suffix, with its dot (".parquet")."""
        ...

    @property
    def media_type(self) -> str: ...

    def write(self, table: Table, sink: BinaryIO) -> int:
        """Encode ``table`` into ``sink``; returns the number of rows written. Raises
        MissingDependencyError, with what to install, when the format's library is absent."""
        ...
