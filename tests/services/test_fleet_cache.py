"""The fleet cache under concurrent readers: a slow read never brings back an older fleet."""

from __future__ import annotations

import threading

from aiplane.services.fleet import FleetCache
from aiplane.store.base import FleetRecord
from aiplane.store.memory import MemoryStore
from tests.services.cost_fixtures import JUNE, fleet_document
from tests.services.fleets import DOCUMENTS, apply_fleet


class SlowFleets:
    """The store's fleet repository, where the next read, once begun, waits to be let go."""

    def __init__(self, store: MemoryStore) -> None:
        self._inner = store.fleets
        self.hold = False
        self.read = threading.Event()
        self.release = threading.Event()

    def current(self) -> FleetRecord | None:
        found = self._inner.current()
        if self.hold:
            self.hold = False
            self.read.set()
            self.release.wait(10)
        return found

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_a_slow_reader_of_an_old_version_does_not_replace_a_newer_one() -> None:
    store = MemoryStore()
    apply_fleet(store, fleet_document(), JUNE)
    slow = SlowFleets(store)
    store.fleets = slow  # type: ignore[assignment]
    cache = FleetCache(store, DOCUMENTS, ttl_s=3600.0)

    slow.hold = True
    reader = threading.Thread(target=cache.current)
    reader.start()
    assert slow.read.wait(10)  # it holds version 1, read before the apply below
    apply_fleet(store, fleet_document(), JUNE + 1)
    cache.invalidate()
    found = cache.in_force()
    assert found is not None and found[0].version == 2
    slow.release.set()
    reader.join(10)

    found = cache.in_force()
    assert found is not None
    record, fleet = found
    assert record.version == 2
    assert fleet is cache.current()  # the record and the fleet it parsed, read together


def test_a_read_begun_before_an_invalidation_does_not_keep_the_next_caller_from_reading() -> None:
    store = MemoryStore()
    apply_fleet(store, fleet_document(), JUNE)
    slow = SlowFleets(store)
    store.fleets = slow  # type: ignore[assignment]
    cache = FleetCache(store, DOCUMENTS, ttl_s=3600.0)

    slow.hold = True
    reader = threading.Thread(target=cache.current)
    reader.start()
    assert slow.read.wait(10)
    apply_fleet(store, fleet_document(), JUNE + 1)
    cache.invalidate()
    slow.release.set()  # it comes back with version 1 after the invalidation
    reader.join(10)

    found = cache.in_force()
    assert found is not None and found[0].version == 2
