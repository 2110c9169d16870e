"""The inference log's writer: records held in a bounded buffer, appended in batches off the
request path. A full buffer drops the record and counts it; a request never waits for the log.

Batches are written once per period rather than as soon as a record waits: each write is a
hop to a worker thread and a transaction (an fsync for the local log), and that thread takes
the GIL from the event loop whenever it runs. At 1,000 requests/s, writing whatever waited
each time made many small batches whose thread hops showed in the gateway's p99."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from prometheus_client import Counter

from aiplane.core.serving.inference import InferenceRecord
from aiplane.streams.base import InferenceLog

logger = logging.getLogger(__name__)

BATCH = 2000
EVERY_S = 0.25


class LogWriter:
    def __init__(
        self, log: InferenceLog, capacity: int, dropped: Counter, every_s: float = EVERY_S
    ) -> None:
        self._log = log
        self._capacity = capacity
        self._waiting: deque[InferenceRecord] = deque()
        self._dropped = dropped
        self._every_s = every_s

    def put(self, record: InferenceRecord) -> None:
        if len(self._waiting) >= self._capacity:
            self._dropped.inc()
        else:
            self._waiting.append(record)

    async def run(self) -> None:
        """Append what waits, once per period, in batches of up to ``BATCH``."""
        while True:
            await asyncio.sleep(self._every_s)
            await self.flush()

    async def flush(self) -> None:
        """Write whatever is waiting (each period, and at stop after ``run`` is cancelled)."""
        while self._waiting:
            take = min(BATCH, len(self._waiting))
            await self._write([self._waiting.popleft() for _ in range(take)])

    async def _write(self, batch: list[InferenceRecord]) -> None:
        try:
            await self._log.append(batch)
        except Exception:
            # The log is best effort for the data path: lose the batch, count it, go on.
            logger.exception("inference log append failed; %d records dropped", len(batch))
            self._dropped.inc(len(batch))
