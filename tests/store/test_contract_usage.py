"""The store contract for usage intervals and cost alerts (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.errors import NotFoundError
from aiplane.store.base import Store

from . import factories as f

HOUR = 3600.0


def interval(
    n: int, *, attempt: int = 1, start: float = 0.0, hours: float = 1.0, **changes: object
) -> UsageInterval:
    full = UsageInterval(
        run_id=f.run_id(n),
        job_id=f.job_id(n),
        attempt=attempt,
        team="research",
        workload=f"job-{n}",
        site="onprem-fra",
        pool="onprem-fra/dgx-h100",
        pricing="reserved",
        accelerator="H100-80GB",
        gpus=16.0,
        start=f.T0 + start,
        end=f.T0 + start + hours * HOUR,
        usd_per_hour=21.6,
        project="llama",
        model="llama-3-8b",
        egress_gb=1200.5,
        egress_usd=144.06,
        outcome="preempted",
    )
    return replace(full, **changes)  # type: ignore[arg-type]


def test_an_interval_round_trips_with_every_field(store: Store) -> None:
    u = interval(1)
    assert store.add_usage(u) is True
    assert store.list_usage(f.T0, f.T0 + HOUR) == [u]


def test_optional_labels_round_trip_as_none(store: Store) -> None:
    u = interval(1, project=None, model=None, accelerator=None, egress_gb=0.0, egress_usd=0.0)
    store.add_usage(u)
    assert store.list_usage(f.T0, f.T0 + HOUR) == [u]


def test_an_attempt_is_recorded_once(store: Store) -> None:
    first = interval(1)
    assert store.add_usage(first)
    assert store.add_usage(replace(first, end=first.end + HOUR)) is False
    assert store.add_usage(interval(1, attempt=2, start=2 * HOUR))
    assert store.list_usage(f.T0, f.T0 + 10 * HOUR) == [
        first,
        interval(1, attempt=2, start=2 * HOUR),
    ]


def test_listing_returns_what_overlaps_the_period_in_start_order(store: Store) -> None:
    before = interval(1, start=-2 * HOUR, hours=1)  # ends before the period
    straddles = interval(2, start=-HOUR, hours=2)
    inside = interval(3, start=2 * HOUR, hours=1)
    touches_end = interval(4, start=4 * HOUR, hours=1)  # starts at the period's end
    empty_inside = interval(5, start=3 * HOUR, hours=0)
    for u in (inside, touches_end, before, empty_inside, straddles):
        store.add_usage(u)

    found = store.list_usage(f.T0, f.T0 + 4 * HOUR)

    assert found == [straddles, inside, empty_inside]


def test_listing_filters_by_team(store: Store) -> None:
    mine = interval(1)
    theirs = interval(2, team="infra")
    store.add_usage(mine)
    store.add_usage(theirs)
    assert store.list_usage(f.T0, f.T0 + HOUR, team="infra") == [theirs]
    assert store.list_usage(f.T0, f.T0 + HOUR, team="nobody") == []


def alert(n: int, status: AlertStatus = AlertStatus.PENDING) -> CostAlert:
    return CostAlert(
        key=f"research-monthly|alert@0.8:spent|2025-06-0{n}T00:00:00Z",
        budget="research-monthly",
        rule="alert@0.8:spent",
        period_start=f.T0 + n,
        created_at=f.T0 + 10 * n,
        message=f"alert {n}: spend reached 80%",
        payload={"kind": "budget.alert", "share": 0.81, "actions": ["block"], "n": n},
        status=status,
        url="http://127.0.0.1:9/hook",
        attempts=1,
        next_attempt_at=f.T0 + 5.5,
        delivered_at=None,
        last_error="connection refused",
    )


def test_alerts_round_trip_and_are_unique_by_key(store: Store) -> None:
    a = alert(1)
    assert store.add_cost_alert(a) is True
    assert store.add_cost_alert(replace(a, message="again")) is False
    assert store.cost_alerts() == [a]


def test_alerts_filter_by_status_and_keep_the_newest(store: Store) -> None:
    alerts = [alert(1), alert(2, AlertStatus.DELIVERED), alert(3), alert(4, AlertStatus.LOGGED)]
    for a in alerts:
        store.add_cost_alert(a)
    assert store.cost_alerts(statuses=[AlertStatus.PENDING]) == [alerts[0], alerts[2]]
    assert store.cost_alerts(statuses=[]) == []
    assert store.cost_alerts(limit=2) == alerts[2:]
    assert store.cost_alerts(limit=0) == []


def test_an_alert_update_replaces_it(store: Store) -> None:
    a = alert(1)
    store.add_cost_alert(a)
    done = replace(
        a, status=AlertStatus.DELIVERED, attempts=2, delivered_at=f.T0 + 7, last_error=None
    )
    store.update_cost_alert(done)
    assert store.cost_alerts() == [done]
    with pytest.raises(NotFoundError):
        store.update_cost_alert(alert(9))
