"""The fleet document port and cache, and the service objects, as the services' tests build
them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiplane.backends.base import Backends
from aiplane.backends.registry import PoolBackends
from aiplane.core.fleet import Fleet
from aiplane.services.budgets import BudgetCache
from aiplane.services.fleet import FleetCache, FleetService
from aiplane.services.jobs import JobService
from aiplane.services.types import FleetState
from aiplane.store.base import Store
from aiplane.wiring import SpecFleetDocuments
from tests.identities import ME, access_for

DOCUMENTS = SpecFleetDocuments()
# Every registered backend, to check pools' backend configuration; nothing is launched.
BACKENDS = PoolBackends(Path("work"))
# No backend at all: for runs that never launched a process.
NO_BACKENDS = PoolBackends(Path("work"), factories={})


def fleet_cache(store: Store) -> FleetCache:
    """A cache that re-reads the store on every call."""
    return FleetCache(store, DOCUMENTS, ttl_s=0)


def stored_fleet(store: Store) -> Fleet | None:
    return fleet_cache(store).current()


def apply_fleet(
    store: Store,
    document: Mapping[str, Any],
    at: float,
    backends: Backends = BACKENDS,
    source: str = "fleet.yaml",
) -> FleetState:
    """Apply ``document`` at ``at`` through :class:`FleetService`, as the API does."""
    access, audit = access_for(store, lambda: at)
    service = FleetService(
        store,
        fleet_cache(store),
        DOCUMENTS,
        backends,
        lambda: at,
        lambda: None,
        access=access,
        audit=audit,
    )
    state = service.apply(ME, document, source)
    assert state is not None
    return state


def job_service(
    store: Store, at: float, backends: Backends = NO_BACKENDS, grace_s: float = 0.1
) -> JobService:
    """:class:`JobService` over ``store`` at the fixed time ``at``: the fleet in force read
    afresh, budgets evaluated afresh, nothing to wake."""
    access, audit = access_for(store, lambda: at)
    return JobService(
        store,
        fleet_cache(store),
        BudgetCache(),
        backends,
        lambda: at,
        lambda: None,
        grace_s,
        access=access,
        audit=audit,
    )
