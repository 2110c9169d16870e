"""The fleet document port and cache as the services' tests use them."""

from __future__ import annotations

from aiplane.core.fleet import Fleet
from aiplane.services.fleet import FleetCache
from aiplane.store.base import Store
from aiplane.wiring import SpecFleetDocuments

DOCUMENTS = SpecFleetDocuments()


def fleet_cache(store: Store) -> FleetCache:
    """A cache that re-reads the store on every call."""
    return FleetCache(store, DOCUMENTS, ttl_s=0)


def stored_fleet(store: Store) -> Fleet | None:
    return fleet_cache(store).current()
