"""The store contract for usage intervals and cost alerts (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aiplane.core.cost.alerts import AlertStatus
from aiplane.core.errors import NotFoundError
from aiplane.store.base import Store

from . import factories as f

HOUR = 3600.0


def test_an_interval_round_trips_with_every_field(store: Store) -> None:
    u = f.usage_interval(1)
    assert store.usage.add(u) is True
    assert store.usage.overlapping(f.T0, f.T0 + HOUR) == [u]


def test_optional_labels_round_trip_as_none(store: Store) -> None:
    u = f.usage_interval(
        1, project=None, model=None, accelerator=None, egress_gb=0.0, egress_usd=0.0
    )
    store.usage.add(u)
    assert store.usage.overlapping(f.T0, f.T0 + HOUR) == [u]


def test_an_attempt_is_recorded_once(store: Store) -> None:
    first = f.usage_interval(1)
    assert store.usage.add(first)
    assert store.usage.add(replace(first, end=first.end + HOUR)) is False
    assert store.usage.add(f.usage_interval(1, attempt=2, start=2 * HOUR))
    assert store.usage.overlapping(f.T0, f.T0 + 10 * HOUR) == [
        first,
        f.usage_interval(1, attempt=2, start=2 * HOUR),
    ]


def test_listing_returns_what_overlaps_the_period_in_start_order(store: Store) -> None:
    before = f.usage_interval(1, start=-2 * HOUR, hours=1)  # ends before the period
    straddles = f.usage_interval(2, start=-HOUR, hours=2)
    inside = f.usage_interval(3, start=2 * HOUR, hours=1)
    touches_end = f.usage_interval(4, start=4 * HOUR, hours=1)  # starts at the period's end
    empty_inside = f.usage_interval(5, start=3 * HOUR, hours=0)
    for u in (inside, touches_end, before, empty_inside, straddles):
        store.usage.add(u)

    found = store.usage.overlapping(f.T0, f.T0 + 4 * HOUR)

    assert found == [straddles, inside, empty_inside]


def test_listing_filters_by_team(store: Store) -> None:
    mine = f.usage_interval(1)
    theirs = f.usage_interval(2, team="infra")
    store.usage.add(mine)
    store.usage.add(theirs)
    assert store.usage.overlapping(f.T0, f.T0 + HOUR, team="infra") == [theirs]
    assert store.usage.overlapping(f.T0, f.T0 + HOUR, team="nobody") == []


def test_alerts_round_trip_and_are_unique_by_key(store: Store) -> None:
    a = f.cost_alert(1)
    assert store.alerts.add(a) is True
    assert store.alerts.add(replace(a, message="again")) is False
    assert store.alerts.recent() == [a]


def test_alerts_filter_by_status_and_keep_the_newest(store: Store) -> None:
    alerts = [
        f.cost_alert(1),
        f.cost_alert(2, AlertStatus.DELIVERED),
        f.cost_alert(3),
        f.cost_alert(4, AlertStatus.LOGGED),
    ]
    for a in alerts:
        store.alerts.add(a)
    assert store.alerts.recent(statuses=[AlertStatus.PENDING]) == [alerts[0], alerts[2]]
    assert store.alerts.recent(statuses=[]) == []
    assert store.alerts.recent(limit=2) == alerts[2:]
    assert store.alerts.recent(limit=0) == []


def test_an_alert_update_replaces_it(store: Store) -> None:
    a = f.cost_alert(1)
    store.alerts.add(a)
    done = replace(
        a, status=AlertStatus.DELIVERED, attempts=2, delivered_at=f.T0 + 7, last_error=None
    )
    store.alerts.update(done)
    assert store.alerts.recent() == [done]
    with pytest.raises(NotFoundError):
        store.alerts.update(f.cost_alert(9))
