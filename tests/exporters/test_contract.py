"""The exporter contract: every member (Parquet, memory) writes what reads back the same."""

from __future__ import annotations

import builtins
import io
from collections.abc import Callable
from typing import Any

import pytest

from aiplane.core.errors import MissingDependencyError
from aiplane.exporters import memory
from aiplane.exporters.base import ColumnType, Exporter, Table
from aiplane.exporters.parquet import ParquetExporter

TABLE = Table(
    columns={
        "BilledCost": [12.5, 0.0, None, 1e-9],
        "x_attempt": [1, 2, None, 3],
        "x_team": ["research", "Grüße ✓", None, ""],
    },
    types={
        "BilledCost": ColumnType.FLOAT,
        "x_attempt": ColumnType.INT,
        "x_team": ColumnType.STRING,
    },
)


def _read_parquet(data: bytes) -> Table:
    import pyarrow.parquet as pq  # a dev dependency: the Parquet path is always tested

    table = pq.read_table(io.BytesIO(data))
    kinds = {"double": ColumnType.FLOAT, "int64": ColumnType.INT, "string": ColumnType.STRING}
    return Table(
        {name: table.column(name).to_pylist() for name in table.column_names},
        {field.name: kinds[str(field.type)] for field in table.schema},
    )


# Each member with the reader that turns its bytes back into a table.
Member = tuple[Exporter, Callable[[bytes], Table]]
MEMBERS: dict[str, tuple[Callable[[], Exporter], Callable[[bytes], Table]]] = {
    "parquet": (ParquetExporter, _read_parquet),
    "memory": (memory.MemoryExporter, memory.read),
}


@pytest.fixture(params=list(MEMBERS))
def member(request: pytest.FixtureRequest) -> Member:
    make, read = MEMBERS[request.param]
    return make(), read


def _write(exporter: Exporter, table: Table) -> tuple[int, bytes]:
    sink = io.BytesIO()
    rows = exporter.write(table, sink)
    return rows, sink.getvalue()


def test_a_table_reads_back_with_its_values_types_and_column_order(
    member: Member,
) -> None:
    exporter, read = member
    rows, data = _write(exporter, TABLE)

    back = read(data)

    assert rows == TABLE.rows == 4
    assert list(back.columns) == list(TABLE.columns)
    assert dict(back.types) == dict(TABLE.types)
    assert {k: list(v) for k, v in back.columns.items()} == {
        k: list(v) for k, v in TABLE.columns.items()
    }


def test_an_empty_table_has_its_columns_and_no_rows(
    member: Member,
) -> None:
    exporter, read = member
    empty = Table({name: [] for name in TABLE.columns}, TABLE.types)
    rows, data = _write(exporter, empty)
    back = read(data)
    assert rows == 0 and list(back.columns) == list(TABLE.columns) and back.rows == 0


def test_every_member_names_its_file_kind(
    member: Member,
) -> None:
    exporter, _ = member
    assert exporter.suffix.startswith(".") and "/" in exporter.media_type


def test_a_table_refuses_columns_without_a_type_or_of_unequal_length() -> None:
    with pytest.raises(ValueError, match="type"):
        Table({"a": [1.0]}, {})
    with pytest.raises(ValueError, match="length"):
        Table({"a": [1.0], "b": [1.0, 2.0]}, {"a": ColumnType.FLOAT, "b": ColumnType.FLOAT})


def test_parquet_without_pyarrow_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(MissingDependencyError, match=r"aiplane\[parquet\]"):
        ParquetExporter().write(TABLE, io.BytesIO())


def test_the_memory_exporter_keeps_what_it_was_given() -> None:
    exporter = memory.MemoryExporter()
    _write(exporter, TABLE)
    assert exporter.tables == [TABLE]
