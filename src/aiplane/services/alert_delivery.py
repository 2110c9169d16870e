"""Delivering budget alerts to webhooks: signed JSON, retried with backoff, given up loudly.

The secret is looked up at delivery time (the budget's ``secret``, the environment variable
its ``secret_env`` names, or ``AIPLANE_WEBHOOK_SECRET``) and never stored with the alert.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace

import httpx

from aiplane.core.cost.alerts import (
    SIGNATURE_HEADER,
    AlertStatus,
    CostAlert,
    after_failure,
    body,
    signature,
)
from aiplane.core.cost.budgets import effective_budgets
from aiplane.core.fleet import Fleet
from aiplane.services.events import record
from aiplane.store.base import Store

DEFAULT_SECRET_ENV = "AIPLANE_WEBHOOK_SECRET"
DELIVERY_HEADER = "X-Aiplane-Delivery"

# (url, body, headers, timeout_s) -> HTTP status; raises on a transport error.
Sender = Callable[[str, bytes, Mapping[str, str], float], int]


def http_post(url: str, payload: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    response = httpx.post(url, content=payload, headers=dict(headers), timeout=timeout_s)
    return response.status_code


def webhook_secret(fleet: Fleet | None, budget: str, env: Mapping[str, str]) -> str | None:
    if fleet is not None:
        for b in effective_budgets(fleet):
            if b.name == budget and b.webhook is not None:
                if b.webhook.secret:
                    return b.webhook.secret
                if b.webhook.secret_env:
                    return env.get(b.webhook.secret_env) or None
    return env.get(DEFAULT_SECRET_ENV) or None


def deliver_alerts(
    store: Store,
    fleet: Fleet | None,
    now: float,
    *,
    send: Sender = http_post,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 5.0,
    limit: int = 100,
) -> int:
    """Try every pending alert that is due; returns how many were delivered."""
    env = os.environ if env is None else env
    delivered = 0
    for alert in store.cost_alerts(statuses=[AlertStatus.PENDING], limit=limit):
        if alert.next_attempt_at > now or alert.url is None:
            continue
        if _deliver(store, fleet, alert, now, send, env, timeout_s):
            delivered += 1
    return delivered


def _deliver(
    store: Store,
    fleet: Fleet | None,
    alert: CostAlert,
    now: float,
    send: Sender,
    env: Mapping[str, str],
    timeout_s: float,
) -> bool:
    assert alert.url is not None
    payload = body(alert)
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: alert.key}
    secret = webhook_secret(fleet, alert.budget, env)
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(payload, secret)
    try:
        status = send(alert.url, payload, headers, timeout_s)
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if error is None:
        done = replace(
            alert,
            status=AlertStatus.DELIVERED,
            attempts=alert.attempts + 1,
            delivered_at=now,
            last_error=None,
        )
        store.update_cost_alert(done)
        return True
    failed = after_failure(alert, now, error)
    store.update_cost_alert(failed)
    if failed.status is AlertStatus.FAILED:
        record(
            store,
            now,
            "budget.alert_failed",
            f"gave up delivering {alert.key} to {alert.url} after {failed.attempts} attempts: "
            f"{error}",
        )
    return False
