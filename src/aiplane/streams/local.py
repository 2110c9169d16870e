"""``LocalInferenceLog``: the embedded inference log, one SQLite file in a folder.

``<directory>/inference.sqlite3``, a table of records whose position is the rowid
(AUTOINCREMENT: a position is never handed out twice, even once old records are deleted).
WAL, so monitors in another process read while the gateway writes; ``synchronous=FULL``, so
an append that returned survives a power cut, not only a crash (batches keep the fsyncs
few). Calls run in a worker thread (``asyncio.to_thread``) on one connection, one at a time.

``export_parquet`` writes records to a Parquet file (the ``parquet`` extra) for offline drift
runs: the record's fields as columns, features and prediction as JSON text.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiplane.core.errors import MissingDependencyError
from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.inference import InferenceRecord
from aiplane.streams.base import InferenceLog, Positioned
from aiplane.streams.records import dumps

FILENAME = "inference.sqlite3"
SCHEMA_VERSION = 1
# Rows per Parquet row group, and per read while exporting: bounds the memory an export takes.
EXPORT_BATCH = 50_000

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    version TEXT NOT NULL,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    at REAL NOT NULL,
    latency_ms REAL NOT NULL,
    status INTEGER NOT NULL,
    principal TEXT,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_endpoint ON records (endpoint, position);
"""
_SELECT = (
    "SELECT position, request_id, endpoint, version, role, site, at, latency_ms, status, "
    "principal, features, prediction FROM records "
)
_AFTER = _SELECT + "WHERE position > ? ORDER BY position LIMIT ?"
_AFTER_FOR_ENDPOINT = _SELECT + "WHERE endpoint = ? AND position > ? ORDER BY position LIMIT ?"


def _row(record: InferenceRecord) -> tuple[Any, ...]:
    return (
        record.request_id,
        record.endpoint,
        record.version,
        record.role.value,
        record.site,
        record.at,
        record.latency_ms,
        record.status,
        record.principal,
        dumps(dict(record.features)),
        dumps(dict(record.prediction)),
    )


def _positioned(row: tuple[Any, ...]) -> Positioned:
    return Positioned(
        row[0],
        InferenceRecord(
            request_id=row[1],
            endpoint=row[2],
            version=row[3],
            role=Role(row[4]),
            site=row[5],
            at=row[6],
            latency_ms=row[7],
            status=row[8],
            principal=row[9],
            features=json.loads(row[10]),
            prediction=json.loads(row[11]),
        ),
    )


class LocalInferenceLog:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILENAME
        self._lock = threading.Lock()
        # Used from worker threads, one at a time (the lock), never at once.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # Another process (a monitor, a second gateway) may hold the write lock briefly.
        self._db.execute("PRAGMA busy_timeout=10000")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise RuntimeError(
                f"{self.path}: inference log schema {version} is newer than this aiplane "
                f"reads (up to {SCHEMA_VERSION}); upgrade aiplane"
            )
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    async def append(self, records: Sequence[InferenceRecord]) -> None:
        if not records:
            return
        rows = [_row(r) for r in records]
        await self._in_thread(lambda: self._insert(rows))

    async def read(
        self, after: int = 0, limit: int = 1000, endpoint: str | None = None
    ) -> list[Positioned]:
        if limit <= 0:
            return []
        return await self._in_thread(lambda: self._select(after, limit, endpoint))

    async def export_parquet(self, path: Path, after: int = 0) -> int:
        """Write the records after position ``after`` to a Parquet file at ``path``, oldest
        first, with a ``position`` column to resume from; the number written."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingDependencyError(
                "exporting the inference log to Parquet needs pyarrow: "
                "pip install 'aiplane[parquet]'"
            ) from exc
        schema = pa.schema(
            [
                ("position", pa.int64()),
                ("request_id", pa.string()),
                ("endpoint", pa.string()),
                ("version", pa.string()),
                ("role", pa.string()),
                ("site", pa.string()),
                ("at", pa.float64()),
                ("latency_ms", pa.float64()),
                ("status", pa.int64()),
                ("principal", pa.string()),
                ("features", pa.string()),  # JSON text
                ("prediction", pa.string()),  # JSON text
            ]
        )

        def export() -> int:
            written = 0
            with pq.ParquetWriter(path, schema) as writer:
                position = after
                while True:
                    rows = self._rows(position, EXPORT_BATCH, None)
                    if not rows:
                        break
                    columns = list(zip(*rows, strict=True))
                    writer.write_table(pa.table(columns, schema=schema))
                    written += len(rows)
                    position = rows[-1][0]
            return written

        return await self._in_thread(export)

    async def close(self) -> None:
        await self._in_thread(self._db.close)

    async def _in_thread(self, work: Callable[[], _T]) -> _T:
        def locked() -> _T:
            with self._lock:
                return work()

        return await asyncio.to_thread(locked)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        with self._db:  # one transaction: the batch is all there or not at all
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO records (request_id, endpoint, version, role, site, at, "
                "latency_ms, status, principal, features, prediction) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def _rows(self, after: int, limit: int, endpoint: str | None) -> list[tuple[Any, ...]]:
        if endpoint is None:
            cursor = self._db.execute(_AFTER, (after, limit))
        else:
            cursor = self._db.execute(_AFTER_FOR_ENDPOINT, (endpoint, after, limit))
        return cursor.fetchall()

    def _select(self, after: int, limit: int, endpoint: str | None) -> list[Positioned]:
        return [_positioned(row) for row in self._rows(after, limit, endpoint)]


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: InferenceLog = LocalInferenceLog(Path())
