"""Webhooks: a JSON POST with the delivery key and, given a secret, an HMAC-SHA256 signature.

Receivers verify ``X-Aiplane-Signature: sha256=<hex>`` over the raw body with their copy of
the secret (``aiplane.core.cost.alerts.verify``) and use ``X-Aiplane-Delivery`` to drop a
repeat. Any 2xx answer is a delivery; redirects are not followed (a moved hook is an error the
operator should see, not a place to send signed data to).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from aiplane.core.cost.alerts import SIGNATURE_HEADER, signature
from aiplane.notify.base import DeliveryResult, Notification, Notifier

DELIVERY_HEADER = "X-Aiplane-Delivery"


class WebhookNotifier:
    def __init__(self, timeout_s: float = 5.0) -> None:
        # One limit for connecting, sending and waiting for the answer: the cost loop must
        # not hang on a slow receiver.
        self.timeout_s = timeout_s

    def deliver(self, notification: Notification) -> DeliveryResult:
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: notification.key}
        if notification.secret:
            headers[SIGNATURE_HEADER] = signature(notification.payload, notification.secret)
        try:
            response = httpx.post(
                notification.destination,
                content=notification.payload,
                headers=headers,
                timeout=self.timeout_s,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return DeliveryResult(False, f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult(True, status=status)
        return DeliveryResult(False, f"HTTP {status}", status)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Notifier = WebhookNotifier()
