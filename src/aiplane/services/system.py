"""The control plane's own health and version."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    status: str
    version: str
    pid: int


class SystemService:
    def __init__(self, version: str, pid: int) -> None:
        self._version = version
        self._pid = pid

    def health(self) -> Health:
        """Liveness: the version and the process id (what ``aiplane up`` checks it started)."""
        return Health("ok", self._version, self._pid)
