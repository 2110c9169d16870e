"""The inference log protocol: append-only, read in order from a position.

Every member passes ``tests/streams/test_contract.py``. Writers (the gateway) append in
batches from an async task, off the request path; readers (drift monitors) read from the
position after the last record they handled, so a restart neither skips nor repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiplane.core.serving.inference import InferenceRecord


@dataclass(frozen=True)
class Positioned:
    """A record and its position in the log (1, 2, 3, ... per log; a reader resumes after
    the last position it handled)."""

    position: int
    record: InferenceRecord


class InferenceLog(Protocol):
    async def append(self, records: Sequence[InferenceRecord]) -> None:
        """Append ``records`` in order. Durable when it returns (written and flushed, or
        acknowledged by the server)."""
        ...

    async def read(
        self, after: int = 0, limit: int = 1000, endpoint: str | None = None
    ) -> list[Positioned]:
        """Up to ``limit`` records after position ``after``, oldest first (only
        ``endpoint``'s when given)."""
        ...

    async def close(self) -> None: ...
