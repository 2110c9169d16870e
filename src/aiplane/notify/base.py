"""The notifier protocol: deliver one signed payload to one destination, and say how it went.

A notifier makes one attempt per call and never raises for a failed delivery: a refusal, a
timeout or an unreachable destination is a :class:`DeliveryResult` with the reason. Whether and
when to try again is the caller's policy (``services/alerts.py`` for budget alerts), so every
member is as simple as one attempt. Every member passes ``tests/notify/test_contract.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Notification:
    destination: str  # where to: a URL for the webhook notifier
    payload: bytes  # the body, exactly the bytes that are signed
    key: str  # a stable id of what is delivered, so receivers can drop repeats
    secret: str | None = None  # signs the payload (HMAC-SHA256) when set; never stored


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    error: str | None = None  # why not, in words ("HTTP 500", "ConnectError: ...")
    status: int | None = None  # the receiver's answer, where there was one


class Notifier(Protocol):
    def deliver(self, notification: Notification) -> DeliveryResult: ...
