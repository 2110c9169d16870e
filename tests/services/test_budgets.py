"""Budgets through the services: a block refuses submissions; alerts go once per rule and
period to the event log and to a notifier, signed, retried after a failure (and, through the
cost loop, to a real local webhook)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from aiplane.core.budgets import BudgetAction
from aiplane.core.cost.alerts import SIGNATURE_HEADER, AlertStatus, verify
from aiplane.core.errors import BudgetExceededError
from aiplane.notify.memory import MemoryNotifier
from aiplane.notify.webhook import DELIVERY_HEADER, WebhookNotifier
from aiplane.services.alerts import deliver_alerts
from aiplane.services.budgets import (
    BudgetCache,
    budget_actions,
    budget_remaining,
    evaluate_budgets,
    raise_alerts,
    team_forecasts,
)
from aiplane.specs import workload_from_document
from aiplane.store.memory import MemoryStore
from aiplane.workers.costs import cost_step
from tests.identities import ME
from tests.services.fleets import fleet_cache, job_service, stored_fleet

from .cost_fixtures import DAY, JUNE, store_with, usage

NOW = JUNE + 10 * DAY
BLOCKING = [
    {
        "name": "research-hard",
        "team": "research",
        "amount_usd": 1000,
        "rules": [
            {"kind": "alert", "at": 0.5},
            {"kind": "spot_or_owned_only", "at": 0.8},
            {"kind": "block", "at": 1.0},
        ],
    },
    {"name": "llama", "project": "llama", "amount_usd": 100, "rules": [{"kind": "block"}]},
]


def workload(team: str = "research", project: str | None = None) -> Any:
    doc: dict[str, Any] = {"name": "ft", "team": team, "kind": "finetune", "run": "true"}
    # One GPU: the fleet has GPU nodes only, and CPU-only work there can never run.
    doc["resources"] = {"accelerators": "H100:1"}
    if project:
        doc["project"] = project
    return workload_from_document(doc, "w.yaml")


def fleet_of(store: MemoryStore) -> Any:
    fleet = stored_fleet(store)
    assert fleet is not None
    return fleet


def test_a_spent_budget_blocks_new_submissions_of_its_team() -> None:
    store = store_with(BLOCKING)
    fleet = fleet_of(store)
    store.usage.add(usage("r1", JUNE + DAY, 40))  # $640: over 50%, not yet 80%
    assert job_service(store, NOW).submit(ME, workload()).run.state == "pending"
    assert budget_actions(store, fleet, NOW) == {}

    store.usage.add(usage("r2", JUNE + 3 * DAY, 30))  # +$480: $1,120 of $1,000
    with pytest.raises(BudgetExceededError) as info:
        job_service(store, NOW).submit(ME, workload())
    assert info.value.code == "budget_exceeded"
    assert "research-hard" in info.value.message
    assert info.value.problems[0].given == "$1,120.00 of $1,000.00 (monthly)"
    assert budget_actions(store, fleet, NOW) == {
        "research": {BudgetAction.SPOT_OR_OWNED_ONLY, BudgetAction.BLOCK}
    }
    assert budget_remaining(store, fleet, NOW)["research"] == 0.0
    # Other teams are not blocked; nor is the team once the month is over.
    job_service(store, NOW).submit(ME, workload("infra"))
    job_service(store, JUNE + 31 * DAY).submit(ME, workload())


def test_a_project_budget_blocks_only_that_projects_work() -> None:
    store = store_with(BLOCKING)
    fleet = fleet_of(store)
    store.usage.add(usage("r1", JUNE + DAY, 1, team="infra", project="llama"))  # $16
    job_service(store, NOW).submit(ME, workload("infra", "llama"))
    store.usage.add(usage("r2", JUNE + 2 * DAY, 10, team="infra", project="llama"))  # +$160
    with pytest.raises(BudgetExceededError):
        job_service(store, NOW).submit(ME, workload("infra", "llama"))
    job_service(store, NOW).submit(ME, workload("infra"))
    assert budget_actions(store, fleet, NOW) == {"project:llama": {BudgetAction.BLOCK}}


def test_the_cache_answers_until_its_ttl_passes() -> None:
    store = store_with(BLOCKING)
    fleet = fleet_of(store)
    ticks = iter([0.0, 1.0, 100.0])
    cache = BudgetCache(ttl_s=30, clock=lambda: next(ticks))
    assert budget_actions(store, fleet, NOW, cache) == {}
    store.usage.add(usage("r1", JUNE + DAY, 100))
    assert budget_actions(store, fleet, NOW, cache) == {}  # cached
    assert BudgetAction.BLOCK in budget_actions(store, fleet, NOW, cache)["research"]


def test_team_budget_forecast_counts_known_work() -> None:
    store = store_with()
    fleet = fleet_of(store)
    for day in range(10):  # $128 a day of history
        store.usage.add(usage(f"r{day}", JUNE + day * DAY, 8))
    (view,) = evaluate_budgets(store, fleet, NOW)  # research's $10,000 a month
    assert view.status.spent_usd == pytest.approx(1280.0)
    assert view.forecast.expected_usd == pytest.approx(1280.0 + 20 * 128.0)
    assert view.status.fired == ()
    forecasts = team_forecasts(store, fleet, NOW)
    assert set(forecasts) == {"research", "infra"}
    assert forecasts["infra"].expected_usd == 0.0


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        payload = self.rfile.read(length)
        type(self).received.append((dict(self.headers), payload))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/budget"
    finally:
        server.shutdown()
        server.server_close()


def test_alerts_go_once_per_rule_and_period_signed_and_retried() -> None:
    hook = "https://hooks.example.com/budget"
    notifier = MemoryNotifier()
    notifier.refuse(hook, "HTTP 500")
    budgets = [
        {
            "name": "research-hard",
            "team": "research",
            "amount_usd": 1000,
            "rules": [{"kind": "alert", "at": 0.5}, {"kind": "block"}],
            "webhook": {"url": hook, "secret_env": "HOOK_SECRET"},
        }
    ]
    store = store_with(budgets)
    fleet = fleet_of(store)
    env = {"HOOK_SECRET": "s3cret"}
    store.usage.add(usage("r1", JUNE + DAY, 50))  # $800: the alert at 50% fires

    (first,) = raise_alerts(store, fleet, NOW)
    assert raise_alerts(store, fleet, NOW + 60) == []  # no storm: once per rule and period
    assert [e.kind for e in store.events.recent()].count("budget.alert") == 1

    assert deliver_alerts(store, fleet, NOW, notifier, env=env) == 0  # the hook answers 500
    (pending,) = store.alerts.recent()
    assert (pending.status, pending.attempts, pending.last_error) == (
        AlertStatus.PENDING,
        1,
        "HTTP 500",
    )
    notifier.accept(hook)
    assert deliver_alerts(store, fleet, NOW + 1, notifier, env=env) == 0  # backing off
    assert len(notifier.sent) == 1
    assert deliver_alerts(store, fleet, NOW + 6, notifier, env=env) == 1
    (done,) = store.alerts.recent()
    assert done.status is AlertStatus.DELIVERED and done.delivered_at == NOW + 6

    last = notifier.sent[-1]
    assert (last.notification.destination, last.notification.key) == (hook, done.key)
    payload = last.notification.payload
    assert last.signature is not None and verify(payload, "s3cret", last.signature)
    body = json.loads(payload)
    assert (body["budget"], body["rule"]["at"], body["spent_usd"]) == ("research-hard", 0.5, 800.0)
    assert first.key == done.key

    store.usage.add(usage("r2", JUNE + 4 * DAY, 20))  # $1,120: the block rule fires too
    assert [a.rule for a in raise_alerts(store, fleet, NOW)] == ["block@1:spent"]


def test_the_cost_loop_raises_and_delivers(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLANE_WEBHOOK_SECRET", "from-env")
    budgets = [
        {
            "name": "b",
            "team": "research",
            "amount_usd": 10,
            "rules": [{"kind": "alert"}],
            "webhook": {"url": hook},
        },
    ]
    store = store_with(budgets)
    store.usage.add(usage("r1", JUNE + DAY, 1))
    notifier = WebhookNotifier(timeout_s=5.0)
    cost_step(store, fleet_cache(store), BudgetCache(ttl_s=0), notifier, clock=lambda: NOW)
    (headers, payload) = _Hook.received[0]
    assert verify(payload, "from-env", headers[SIGNATURE_HEADER])
    assert headers[DELIVERY_HEADER] == store.alerts.recent()[0].key
    assert store.alerts.recent()[0].status is AlertStatus.DELIVERED
