"""``MemoryNotifier``: records what it is given, for tests of the layers above.

Each delivery is kept with the signature a webhook would have sent, so a test can check what
was signed; destinations told to refuse answer as a failing receiver would.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiplane.core.cost.alerts import signature
from aiplane.notify.base import DeliveryResult, Notification, Notifier


@dataclass(frozen=True)
class Sent:
    notification: Notification
    signature: str | None  # "sha256=<hex>" over the payload, when a secret was given
    delivered: bool


class MemoryNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refusing: dict[str, str] = {}
        self._sent: list[Sent] = []

    def refuse(self, destination: str, error: str = "HTTP 503") -> None:
        """Fail every later delivery to ``destination`` with ``error``."""
        with self._lock:
            self._refusing[destination] = error

    def accept(self, destination: str) -> None:
        with self._lock:
            self._refusing.pop(destination, None)

    @property
    def sent(self) -> list[Sent]:
        """Every delivery attempt, oldest first."""
        with self._lock:
            return list(self._sent)

    def deliver(self, notification: Notification) -> DeliveryResult:
        signed = (
            signature(notification.payload, notification.secret) if notification.secret else None
        )
        with self._lock:
            error = self._refusing.get(notification.destination)
            self._sent.append(Sent(notification, signed, error is None))
        return DeliveryResult(True) if error is None else DeliveryResult(False, error)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Notifier = MemoryNotifier()
