"""Budget alerts: what is sent, how it is signed, and its delivery state.

An alert is keyed by budget, rule and period, so a rule that keeps holding all month alerts
once (the store refuses a second alert with the same key). The webhook body is JSON, signed
with HMAC-SHA256 over the exact bytes sent, in the header ``X-Aiplane-Signature: sha256=<hex>``
(the scheme GitHub uses), so a receiver can check it with the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from aiplane.core.budgets import BudgetRule
from aiplane.core.cost.budgets import BudgetStatus
from aiplane.core.cost.periods import iso

SIGNATURE_HEADER = "X-Aiplane-Signature"
MAX_ATTEMPTS = 6
# Waits after each failed delivery; the last attempt gives up.
BACKOFF_S = (5.0, 30.0, 120.0, 600.0, 1800.0)


class AlertStatus(StrEnum):
    PENDING = "pending"  # to be delivered to a webhook
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS
    LOGGED = "logged"  # no webhook: the event log is the only destination


@dataclass(frozen=True)
class CostAlert:
    key: str
    budget: str
    rule: str
    period_start: float
    created_at: float
    message: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    status: AlertStatus = AlertStatus.PENDING
    url: str | None = None
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    last_error: str | None = None


def alert_key(budget: str, rule: BudgetRule, period_start: float) -> str:
    return f"{budget}|{rule.key}|{iso(period_start)}"


def make_alert(status: BudgetStatus, rule: BudgetRule, now: float) -> CostAlert:
    b = status.budget
    value = status.forecast_usd if rule.basis == "forecast" else status.spent_usd
    message = (
        f"budget {b.name} ({b.scope} {b.target}): {rule.describe()}: "
        f"{rule.basis} ${value:,.2f} of ${b.amount_usd:,.2f} ({b.period})"
    )
    payload = {
        "kind": "budget.alert",
        "budget": b.name,
        "scope": str(b.scope),
        "target": b.target,
        "period": str(b.period),
        "period_start": iso(status.period_start),
        "period_end": iso(status.period_end),
        "amount_usd": round(b.amount_usd, 2),
        "spent_usd": round(status.spent_usd, 2),
        "forecast_usd": round(status.forecast_usd, 2),
        "share": round(status.share, 4),
        "rule": {"kind": str(rule.kind), "at": rule.at, "basis": str(rule.basis)},
        "actions": sorted(str(a) for a in status.actions),
        "message": message,
        "at": iso(now),
    }
    url = b.webhook.url if b.webhook is not None else None
    return CostAlert(
        key=alert_key(b.name, rule, status.period_start),
        budget=b.name,
        rule=rule.key,
        period_start=status.period_start,
        created_at=now,
        message=message,
        payload=payload,
        status=AlertStatus.PENDING if url else AlertStatus.LOGGED,
        url=url,
    )


def body(alert: CostAlert) -> bytes:
    return json.dumps(alert.payload, sort_keys=True, separators=(",", ":")).encode()


def signature(payload: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def verify(payload: bytes, secret: str, header: str) -> bool:
    return hmac.compare_digest(signature(payload, secret), header)


def after_failure(alert: CostAlert, now: float, error: str) -> CostAlert:
    """The alert after one more failed attempt: retried later, or given up."""
    attempts = alert.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        return replace(alert, attempts=attempts, status=AlertStatus.FAILED, last_error=error)
    wait = BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)]
    return replace(alert, attempts=attempts, next_attempt_at=now + wait, last_error=error)


def alert_to_dict(a: CostAlert) -> dict[str, Any]:
    return {
        "key": a.key,
        "budget": a.budget,
        "rule": a.rule,
        "period_start": a.period_start,
        "created_at": a.created_at,
        "message": a.message,
        "payload": dict(a.payload),
        "status": str(a.status),
        "url": a.url,
        "attempts": a.attempts,
        "next_attempt_at": a.next_attempt_at,
        "delivered_at": a.delivered_at,
        "last_error": a.last_error,
    }


def alert_from_dict(d: Mapping[str, Any]) -> CostAlert:
    return CostAlert(
        key=d["key"],
        budget=d["budget"],
        rule=d["rule"],
        period_start=float(d["period_start"]),
        created_at=float(d["created_at"]),
        message=d["message"],
        payload=dict(d.get("payload") or {}),
        status=AlertStatus(d.get("status", "pending")),
        url=d.get("url"),
        attempts=int(d.get("attempts", 0)),
        next_attempt_at=float(d.get("next_attempt_at", 0.0)),
        delivered_at=d.get("delivered_at"),
        last_error=d.get("last_error"),
    )
