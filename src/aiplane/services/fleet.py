"""Applying and reading the fleet."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiplane.core.fleet import Fleet
from aiplane.core.runs import ACTIVE
from aiplane.services.events import record
from aiplane.specs import fleet_from_document, fleet_to_document
from aiplane.store.base import FleetRecord, Store


class FleetCache:
    """The fleet in force, parsed once per stored version and re-read at most every
    ``ttl_s`` seconds, so a busy API does not load the fleet document on every submission.

    ``invalidate`` after a local apply makes the change visible at once; a fleet applied
    through another control-plane replica becomes visible within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._ttl_s = ttl_s
        self._clock = clock
        self._checked_at = -float("inf")
        self._version: int | None = None
        self._fleet: Fleet | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = -float("inf")

    def get(self, store: Store) -> Fleet | None:
        now = self._clock()
        with self._lock:
            if now - self._checked_at < self._ttl_s:
                return self._fleet
        stored = store.fleets.current()
        with self._lock:
            self._checked_at = now
            if stored is None:
                self._version, self._fleet = None, None
            elif stored.version != self._version:
                self._fleet = fleet_from_document(stored.document, "stored fleet")
                self._version = stored.version
            return self._fleet


def apply_fleet(
    store: Store,
    document: Mapping[str, Any],
    source: str,
    now: float,
    resolve_local: Callable[[Fleet], Fleet] | None = None,
) -> FleetRecord:
    """Validate a fleet document (raising SpecError with every problem) and make it current.

    ``resolve_local`` fills in what only the server can know, such as the GPUs that
    ``accelerator: auto`` pools find on this machine.
    """
    fleet = fleet_from_document(document, source)
    if resolve_local is not None:
        fleet = resolve_local(fleet)
    pools = sum(1 for _ in fleet.pools())
    with store.unit_of_work() as uow:
        stored = uow.fleets.put(fleet_to_document(fleet), now)
        record(
            uow,
            now,
            "fleet.applied",
            f"fleet v{stored.version} applied from {source}: {len(fleet.sites)} sites, "
            f"{pools} pools",
        )
    return stored


@dataclass(frozen=True)
class PoolUsage:
    pool: str
    nodes: int
    gpus_total: float
    gpus_used: float
    cpus_total: float
    cpus_used: float
    active_runs: int


def pool_usage(store: Store, fleet: Fleet) -> dict[str, PoolUsage]:
    used: dict[str, list[float]] = {}
    for run in store.jobs.runs_in_states(ACTIVE):
        if run.placement is None:
            continue
        entry = used.setdefault(run.placement.pool, [0.0, 0.0, 0.0])
        entry[0] += sum(a.gpus for a in run.placement.assignments)
        entry[1] += sum(a.cpus for a in run.placement.assignments)
        entry[2] += 1
    usage: dict[str, PoolUsage] = {}
    for pool in fleet.pools():
        gpus_used, cpus_used, runs = used.get(pool.key, [0.0, 0.0, 0.0])
        usage[pool.key] = PoolUsage(
            pool=pool.key,
            nodes=pool.nodes_max,
            gpus_total=float(pool.node.gpus * pool.nodes_max),
            gpus_used=gpus_used,
            cpus_total=pool.node.cpus * pool.nodes_max,
            cpus_used=cpus_used,
            active_runs=int(runs),
        )
    return usage
