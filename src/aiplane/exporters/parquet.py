"""Parquet through pyarrow, imported only when a table is written (the ``parquet`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from aiplane.core.errors import MissingDependencyError
from aiplane.exporters.base import ColumnType, Exporter, Table


class ParquetExporter:
    suffix = ".parquet"
    media_type = "application/vnd.apache.parquet"

    def write(self, table: Table, sink: BinaryIO) -> int:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingDependencyError(
                "Parquet export needs pyarrow: pip install 'aiplane[parquet]' (or write .csv)"
            ) from exc
        arrow_types: dict[ColumnType, Any] = {
            ColumnType.FLOAT: pa.float64(),
            ColumnType.INT: pa.int64(),
            ColumnType.STRING: pa.string(),
        }
        encoded = pa.table(
            {
                name: pa.array(values, type=arrow_types[table.types[name]])
                for name, values in table.columns.items()
            }
        )
        pq.write_table(encoded, sink)
        return int(encoded.num_rows)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Exporter = ParquetExporter()
