"""Columns of a Parquet or CSV file for the drift engine, read through pyarrow.

Only the columns asked for are read. A Parquet file's string columns are read straight into
dictionary arrays (``read_dictionary``), a CSV file's through pyarrow's dictionary encoding,
so a category costs one small integer a row and its labels once; numbers come out as
float64 arrays without a copy when they have no nulls.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplane.core.drift.columns import CategoricalColumn, Column, ColumnType, NumericColumn
from aiplane.core.errors import MissingDependencyError, Problem, SpecError

# As ``summary.py``'s, which this module does not import: the CLI reaches this reader
# through its local composition, and the schema summary is not the CLI's to reach.
PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv",)
SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise MissingDependencyError(
            "reading Parquet and CSV columns needs pyarrow: pip install 'aiplane[parquet]'"
        ) from exc
    return pyarrow


def _kind(pa: Any, data_type: Any) -> ColumnType | None:
    types = pa.types
    if types.is_integer(data_type) or types.is_floating(data_type) or types.is_decimal(data_type):
        return "numeric"
    if types.is_dictionary(data_type):
        return "categorical"
    if (
        types.is_string(data_type)
        or types.is_large_string(data_type)
        or types.is_boolean(data_type)
    ):
        return "categorical"
    return None


def _problem(path: Path, message: str) -> SpecError:
    return SpecError(f"cannot read {path}", [Problem(location=str(path), message=message)])


def _check(path: Path) -> None:
    if not path.exists():
        raise _problem(path, "no such file")
    if path.suffix.lower() not in SUFFIXES:
        raise SpecError(
            f"cannot read {path}",
            [
                Problem(
                    str(path),
                    "not a Parquet or CSV file",
                    given=path.suffix,
                    allowed=", ".join(SUFFIXES),
                )
            ],
        )


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _csv_schema(path: Path) -> Any:
    from pyarrow import csv

    with csv.open_csv(path) as reader:
        return reader.schema


class ArrowColumnReader:
    """:class:`aiplane.tabular.base.ColumnReader` over pyarrow."""

    def schema(self, path: Path) -> dict[str, ColumnType | None]:
        _check(path)
        pa = _pyarrow()
        try:
            if _is_parquet(path):
                import pyarrow.parquet as pq

                schema = pq.read_schema(path)
            else:
                schema = _csv_schema(path)
        except (OSError, pa.ArrowException) as exc:
            raise _problem(path, str(exc)) from None
        return {field.name: _kind(pa, field.type) for field in schema}

    def read(self, path: Path, names: Sequence[str]) -> tuple[int, dict[str, Column]]:
        kinds = self.schema(path)
        missing = [n for n in names if n not in kinds]
        if missing:
            raise SpecError(
                f"cannot read {path}",
                [Problem(str(path), f"no column {n!r}", allowed=", ".join(kinds)) for n in missing],
            )
        pa = _pyarrow()
        categorical = [n for n in names if kinds[n] == "categorical"]
        try:
            if _is_parquet(path):
                import pyarrow.parquet as pq

                # ParquetFile, not read_table: the dataset layer it goes through imports pandas.
                with pq.ParquetFile(path, read_dictionary=categorical) as parquet:
                    table = parquet.read(columns=list(names))
            else:
                from pyarrow import csv

                table = csv.read_csv(
                    path,
                    convert_options=csv.ConvertOptions(
                        include_columns=list(names),
                        auto_dict_encode=True,
                        auto_dict_max_cardinality=1 << 20,
                    ),
                )
        except (OSError, pa.ArrowException) as exc:
            raise _problem(path, str(exc)) from None
        columns: dict[str, Column] = {}
        for name in names:
            chunked = table.column(name)
            if kinds[name] == "numeric":
                columns[name] = NumericColumn(_floats(pa, chunked))
            else:
                columns[name] = _categories(pa, chunked)
        return table.num_rows, columns


def _floats(pa: Any, chunked: Any) -> np.ndarray:
    import pyarrow.compute as pc

    array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
    if not pa.types.is_float64(array.type):
        array = pc.cast(array, pa.float64())
    if array.null_count:
        array = pc.fill_null(array, float("nan"))
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _categories(pa: Any, chunked: Any) -> CategoricalColumn:
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(chunked.type):
        chunked = pc.dictionary_encode(
            pc.cast(chunked, pa.string()) if pa.types.is_boolean(chunked.type) else chunked
        )
    array = (
        chunked.unify_dictionaries().combine_chunks()
        if isinstance(chunked, pa.ChunkedArray)
        else chunked
    )
    indices = array.indices
    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    codes = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    labels = tuple(str(v) for v in array.dictionary.to_pylist())
    return CategoricalColumn(codes=codes, categories=labels)
