"""Delivering budget alerts: which are due, and what each attempt's result does to them.

The policy lives here (retried with backoff, given up loudly after the last attempt: see
``core.cost.alerts.after_failure``); the sending is a notifier's (``aiplane.notify``). The secret
is looked up at delivery time (the budget's ``secret``, the environment variable its
``secret_env`` names, or ``AIPLANE_WEBHOOK_SECRET``) and never stored with the alert.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from aiplane.core.cost.alerts import AlertStatus, CostAlert, after_failure, body
from aiplane.core.cost.budgets import effective_budgets
from aiplane.core.fleet import Fleet
from aiplane.notify.base import Notification, Notifier
from aiplane.services.events import record
from aiplane.store.base import Store

DEFAULT_SECRET_ENV = "AIPLANE_WEBHOOK_SECRET"  # noqa: S105 (the name of a variable, not a secret)


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
    notifier: Notifier,
    *,
    env: Mapping[str, str] | None = None,
    limit: int = 100,
) -> int:
    """Try every pending alert that is due; returns how many were delivered."""
    env = os.environ if env is None else env
    delivered = 0
    for alert in store.alerts.recent(statuses=[AlertStatus.PENDING], limit=limit):
        if alert.next_attempt_at > now or alert.url is None:
            continue
        if _deliver(store, fleet, alert, now, notifier, env):
            delivered += 1
    return delivered


def _deliver(
    store: Store,
    fleet: Fleet | None,
    alert: CostAlert,
    now: float,
    notifier: Notifier,
    env: Mapping[str, str],
) -> bool:
    if alert.url is None:
        raise ValueError(f"alert {alert.key} has no webhook to deliver to")
    secret = webhook_secret(fleet, alert.budget, env)
    result = notifier.deliver(Notification(alert.url, body(alert), alert.key, secret))
    if result.delivered:
        done = replace(
            alert,
            status=AlertStatus.DELIVERED,
            attempts=alert.attempts + 1,
            delivered_at=now,
            last_error=None,
        )
        store.alerts.update(done)
        return True
    error = result.error or "not delivered"
    failed = after_failure(alert, now, error)
    with store.unit_of_work() as uow:
        uow.alerts.update(failed)
        if failed.status is AlertStatus.FAILED:
            record(
                uow,
                now,
                "budget.alert_failed",
                f"gave up delivering {alert.key} to {alert.url} after {failed.attempts} "
                f"attempts: {error}",
            )
    return False
