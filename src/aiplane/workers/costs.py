"""The cost loop: raise budget alerts that are due, then deliver pending ones."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiplane.notify.base import Notifier
from aiplane.services.alerts import deliver_alerts
from aiplane.services.budgets import BudgetCache, raise_alerts
from aiplane.services.fleet import FleetCache
from aiplane.store.base import Store

INTERVAL_S = 15.0


def cost_step(
    store: Store,
    fleet_cache: FleetCache,
    budgets: BudgetCache,
    notifier: Notifier,
    clock: Callable[[], float] = time.time,
) -> None:
    fleet = fleet_cache.current()
    if fleet is not None:
        raise_alerts(store, fleet, clock(), budgets)
    deliver_alerts(store, fleet, clock(), notifier)
