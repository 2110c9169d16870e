"""``MemoryInferenceLog``: records in a list, for tests of the gateway and the monitors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiplane.core.serving.inference import InferenceRecord
from aiplane.streams.base import InferenceLog, Positioned


class MemoryInferenceLog:
    def __init__(self) -> None:
        self._records: list[InferenceRecord] = []  # position n is self._records[n - 1]

    async def append(self, records: Sequence[InferenceRecord]) -> None:
        self._records.extend(records)

    async def read(
        self, after: int = 0, limit: int = 1000, endpoint: str | None = None
    ) -> list[Positioned]:
        found: list[Positioned] = []
        for index in range(max(after, 0), len(self._records)):
            if len(found) >= limit:
                break
            record = self._records[index]
            if endpoint is None or record.endpoint == endpoint:
                found.append(Positioned(index + 1, record))
        return found

    async def close(self) -> None:
        pass


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: InferenceLog = MemoryInferenceLog()
