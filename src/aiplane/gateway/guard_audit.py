"""Guard hits on their way to the audit log: held in a bounded buffer and sent to the control
plane in batches, once per period, in a worker thread (the port is synchronous). A request
never waits for the audit log; a batch that cannot be sent is kept for the next period."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence

from prometheus_client import Counter

from aiplane.core.serving.guard_hits import GuardHit

logger = logging.getLogger(__name__)

BATCH = 500
EVERY_S = 0.5


class GuardAudit:
    def __init__(
        self,
        send: Callable[[Sequence[GuardHit]], None],
        capacity: int,
        dropped: Counter,
        every_s: float = EVERY_S,
    ) -> None:
        self._send = send
        self._capacity = capacity
        self._waiting: deque[GuardHit] = deque()
        self._dropped = dropped
        self._every_s = every_s

    def put(self, hit: GuardHit) -> None:
        if len(self._waiting) >= self._capacity:
            self._dropped.inc()
        else:
            self._waiting.append(hit)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            await self.flush()

    async def flush(self) -> None:
        """Send what waits, in batches; on a failure the batch goes back to the front and the
        rest waits for the next period."""
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(BATCH, len(self._waiting)))]
            try:
                await asyncio.to_thread(self._send, batch)
            except Exception:
                logger.exception("gateway: %d guard hits not recorded; retried", len(batch))
                room = max(0, self._capacity - len(self._waiting))
                self._dropped.inc(len(batch) - min(room, len(batch)))
                self._waiting.extendleft(reversed(batch[:room]))
                return
