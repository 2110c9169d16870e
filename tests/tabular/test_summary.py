"""Schema summaries of Parquet and CSV files that the tests write."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aiplane.core.errors import MissingDependencyError, SpecError
from aiplane.core.registry.records import ColumnSummary, TableSummary
from aiplane.tabular import summary
from aiplane.tabular.summary import summarize


def test_parquet_schema_and_rows_come_from_the_footer(tmp_path: Path) -> None:
    table = pa.table(
        {
            "user": pa.array(range(2500), pa.int64()),
            "score": pa.array([i / 3 for i in range(2500)], pa.float64()),
            "country": pa.array(["de", "fr"] * 1250, pa.string()),
        }
    )
    path = tmp_path / "data" / "part-0.parquet"
    path.parent.mkdir()
    pq.write_table(table, path, row_group_size=1000)  # three row groups
    assert summarize(path, relative_to=tmp_path) == TableSummary(
        "data/part-0.parquet",
        (
            ColumnSummary("user", "int64"),
            ColumnSummary("score", "double"),
            ColumnSummary("country", "string"),
        ),
        2500,
    )


def test_parquet_reads_no_row_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("data was read")

    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", refuse)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    summarized = summarize(path)
    assert summarized is not None and summarized.rows == 3


def write_csv(path: Path, rows: int, tail: str = "") -> None:
    with path.open("w") as f:
        f.write("id,price,name,when\n")
        for i in range(rows):
            f.write(f"{i},{i * 0.25},n{i},2024-01-{1 + i % 28:02d}\n")
        f.write(tail)


def test_csv_types_are_inferred_and_rows_counted_in_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary, "CSV_BLOCK_BYTES", 4096)  # many blocks in a small file
    path = tmp_path / "sales.csv"
    write_csv(path, 20_000)
    result = summarize(path)
    assert result is not None
    assert result.rows == 20_000
    assert [(c.name, c.type) for c in result.columns] == [
        ("id", "int64"),
        ("price", "double"),
        ("name", "string"),
        ("when", "date32[day]"),
    ]
    assert result.path == str(path)


def test_a_later_block_that_does_not_fit_widens_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first block says id is int64; the last rows hold a fraction, then a word (one that
    # is not a null marker such as n/a, which pyarrow reads as null).
    monkeypatch.setattr(summary, "CSV_BLOCK_BYTES", 4096)
    path = tmp_path / "late.csv"
    write_csv(path, 5_000, "7.5,1.0,x,2024-02-01\nunknown,2.0,y,2024-02-02\n")
    result = summarize(path)
    assert result is not None
    assert result.rows == 5_002
    assert result.columns[0] == ColumnSummary("id", "string")
    # A fraction alone widens a whole number to a number.
    path.write_text("")
    write_csv(path, 5_000, "7.5,1.0,x,2024-02-01\n")
    result = summarize(path)
    assert result is not None and result.columns[0] == ColumnSummary("id", "double")


def test_an_empty_csv_has_no_columns_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert summarize(path) == TableSummary(str(path), (), 0)


@pytest.mark.parametrize("name", ["model.bin", "notes.txt", "data.json", "csv"])
def test_other_files_have_no_summary(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"a,b\n1,2\n")
    assert summarize(path) is None


def test_a_corrupt_parquet_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "data" / "broken.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    path.write_bytes(path.read_bytes()[:-20])  # the footer cut off
    with pytest.raises(SpecError) as err:
        summarize(path, relative_to=tmp_path)
    [problem] = err.value.problems
    assert problem.location == "data/broken.parquet"
    assert problem.message.startswith("not a readable Parquet file")
    assert "data/broken.parquet" in err.value.message


def test_a_corrupt_csv_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")  # a row with a column too many
    with pytest.raises(SpecError) as err:
        summarize(path)
    [problem] = err.value.problems
    assert problem.location == str(path)
    assert problem.message.startswith("not a readable CSV file")


def test_without_pyarrow_the_parquet_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(MissingDependencyError, match=r"aiplane\[parquet\]"):
        summarize(path)
    # Files that are not tabular need no pyarrow.
    assert summarize(tmp_path / "x.txt") is None
