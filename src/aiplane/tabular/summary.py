"""The schema summary of a tabular file: columns, their types and the row count.

Neither kind of file is read whole. A Parquet file's schema and row count are in its footer,
so only the metadata is read. A CSV file is streamed in blocks (pyarrow's streaming reader) and
its rows counted block by block; the streaming reader infers each column's type from the first
block, so when a later block holds a value that does not convert (``12`` then ``n/a``), the
column is widened (a whole number to a number, anything else to a string) and the file streamed
again: at most twice per column, and never more than one block in memory.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from aiplane.core.errors import MissingDependencyError, Problem, SpecError
from aiplane.core.registry.records import ColumnSummary, TableSummary

if TYPE_CHECKING:  # pragma: no cover - types only
    from aiplane.tabular.base import TableSummarizer

PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv",)
# Bytes per block of the streaming CSV reader: what it holds in memory at once.
CSV_BLOCK_BYTES = 1 << 20
# pyarrow names the column a conversion failed in: "In CSV column #2: ... conversion error".
_CONVERSION_ERROR = re.compile(r"CSV column #(\d+): .*conversion error", re.DOTALL)


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise MissingDependencyError(
            "reading the schema of Parquet and CSV files needs pyarrow: "
            "pip install 'aiplane[parquet]'"
        ) from exc
    return pyarrow


def summarize(path: Path, relative_to: Path | None = None) -> TableSummary | None:
    """The schema summary of ``path`` if it is a ``.parquet`` or ``.csv`` file, else None.

    ``relative_to`` (a dataset's root folder) makes the recorded path relative to it, in the
    POSIX form a manifest uses; without it the path is recorded as given. A file that cannot be
    read as what its name says is a :class:`SpecError` located at the file."""
    shown = path.relative_to(relative_to).as_posix() if relative_to is not None else str(path)
    return summarize_as(path, shown)


def is_tabular(name: str) -> bool:
    """Whether a file of this name is read for a schema (by its suffix)."""
    return PurePosixPath(name).suffix.lower() in PARQUET_SUFFIXES + CSV_SUFFIXES


def summarize_as(path: Path, name: str) -> TableSummary | None:
    """The schema summary of the file at ``path`` read as the kind ``name``'s suffix says and
    recorded as ``name``: a stored blob (named by its digest) read as the manifest file it
    is. None when ``name`` is not a Parquet or CSV file's."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in PARQUET_SUFFIXES + CSV_SUFFIXES:
        return None
    shown = name
    pa = _pyarrow()
    try:
        if suffix in PARQUET_SUFFIXES:
            columns, rows = _parquet(path)
        else:
            columns, rows = _csv(path)
    except (pa.ArrowException, OSError) as exc:
        kind = "Parquet" if suffix in PARQUET_SUFFIXES else "CSV"
        raise SpecError(
            f"cannot read the {kind} file {shown}",
            [Problem(shown, f"not a readable {kind} file: {exc}", None, f"a {kind} file")],
        ) from exc
    return TableSummary(shown, columns, rows)


def _parquet(path: Path) -> tuple[tuple[ColumnSummary, ...], int]:
    import pyarrow.parquet as pq

    # The footer only: ParquetFile reads the metadata when opened, no row group.
    with pq.ParquetFile(path) as parquet:
        schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    return _columns(schema), int(rows)


def _csv(path: Path) -> tuple[tuple[ColumnSummary, ...], int]:
    if path.stat().st_size == 0:
        return (), 0  # an empty file: no header, no rows (pyarrow calls it an error)
    pa = _pyarrow()
    forced: dict[str, Any] = {}
    while True:
        try:
            return _stream_csv(path, forced)
        except pa.ArrowInvalid as exc:
            widened = _widen(path, forced, str(exc))
            if widened is None:
                raise
            forced = widened


def _stream_csv(path: Path, forced: dict[str, Any]) -> tuple[tuple[ColumnSummary, ...], int]:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pcsv.ConvertOptions(column_types=forced),
    )
    try:
        schema = reader.schema
        rows = 0
        for batch in reader:
            rows += batch.num_rows
    finally:
        reader.close()
    return _columns(schema), rows


def _widen(path: Path, forced: dict[str, Any], error: str) -> dict[str, Any] | None:
    """``forced`` with the column that failed to convert widened one step, or None when the
    error is not a conversion or the column is already a string (nothing wider to try)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    match = _CONVERSION_ERROR.search(error)
    if match is None:
        return None
    index = int(match.group(1))
    # The names and the types first inferred: the header and the first block only.
    reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES))
    try:
        schema = reader.schema
    finally:
        reader.close()
    if index >= len(schema):
        return None
    field = schema.field(index)
    current = forced.get(field.name, field.type)
    if pa.types.is_string(current):
        return None
    wider = pa.float64() if pa.types.is_integer(current) else pa.string()
    return {**forced, field.name: wider}


def _columns(schema: Any) -> tuple[ColumnSummary, ...]:
    return tuple(ColumnSummary(f.name, str(f.type)) for f in schema)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: TableSummarizer = summarize
