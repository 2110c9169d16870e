"""``MemoryExporter``: keeps every table it is given, for tests of the layers above.

It writes the table as JSON (columns in order, with their types), so the bytes a caller
passes on can be read back and compared like a real format's.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, BinaryIO

from aiplane.exporters.base import ColumnType, Exporter, Table


class MemoryExporter:
    suffix = ".json"
    media_type = "application/json"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: list[Table] = []

    @property
    def tables(self) -> list[Table]:
        with self._lock:
            return list(self._tables)

    def write(self, table: Table, sink: BinaryIO) -> int:
        with self._lock:
            self._tables.append(table)
        document = {
            "columns": [
                {"name": name, "type": str(table.types[name]), "values": list(values)}
                for name, values in table.columns.items()
            ]
        }
        sink.write(json.dumps(document, allow_nan=False).encode())
        return table.rows


def read(data: bytes) -> Table:
    """The table that :class:`MemoryExporter` wrote as ``data``."""
    document = json.loads(data)
    columns = {c["name"]: c["values"] for c in document["columns"]}
    types = {c["name"]: ColumnType(c["type"]) for c in document["columns"]}
    return Table(columns, types)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Exporter = MemoryExporter()
