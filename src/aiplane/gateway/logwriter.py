"""The inference log's writer: records on a bounded queue, appended in batches off the
request path. A full queue drops the record and counts it; a request never waits for the log."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter

from aiplane.core.serving.inference import InferenceRecord
from aiplane.streams.base import InferenceLog

logger = logging.getLogger(__name__)

BATCH = 500


class LogWriter:
    def __init__(self, log: InferenceLog, capacity: int, dropped: Counter) -> None:
        self._log = log
        self._queue: asyncio.Queue[InferenceRecord] = asyncio.Queue(maxsize=capacity)
        self._dropped = dropped

    def put(self, record: InferenceRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._dropped.inc()

    async def run(self) -> None:
        """Append what arrives, as many records at a time as are waiting (up to a batch)."""
        while True:
            batch = [await self._queue.get()]
            await self._write(self._drain(batch))

    async def flush(self) -> None:
        """Write whatever is waiting (at stop, after ``run`` is cancelled)."""
        while not self._queue.empty():
            await self._write(self._drain([]))

    def _drain(self, batch: list[InferenceRecord]) -> list[InferenceRecord]:
        while len(batch) < BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _write(self, batch: list[InferenceRecord]) -> None:
        try:
            await self._log.append(batch)
        except Exception:
            # The log is best effort for the data path: lose the batch, count it, go on.
            logger.exception("inference log append failed; %d records dropped", len(batch))
            self._dropped.inc(len(batch))
