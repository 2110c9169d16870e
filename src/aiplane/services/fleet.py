"""The fleet: apply a document, read what is in force and how full each pool is."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiplane.backends.base import Backends, GpuInventory
from aiplane.core.errors import Problem, SpecError
from aiplane.core.fleet import Fleet, NodeShape, Pool
from aiplane.core.runs import ACTIVE
from aiplane.services.events import record
from aiplane.services.ports import FleetDocuments
from aiplane.store.base import FleetRecord, Store


class FleetCache:
    """The fleet in force, parsed once per stored version and re-read at most every
    ``ttl_s`` seconds, so a busy API does not load the fleet document on every submission.

    ``invalidate`` after a local apply makes the change visible at once; a fleet applied
    through another control-plane replica becomes visible within ``ttl_s``.
    """

    def __init__(
        self,
        store: Store,
        documents: FleetDocuments,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._documents = documents
        self._lock = threading.Lock()
        self._ttl_s = ttl_s
        self._clock = clock
        self._checked_at = -float("inf")
        self._version: int | None = None
        self._fleet: Fleet | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = -float("inf")

    def current(self) -> Fleet | None:
        now = self._clock()
        with self._lock:
            if now - self._checked_at < self._ttl_s:
                return self._fleet
        stored = self._store.fleets.current()
        with self._lock:
            self._checked_at = now
            if stored is None:
                self._version, self._fleet = None, None
            elif stored.version != self._version:
                self._fleet = self._documents.read(stored.document, "stored fleet")
                self._version = stored.version
            return self._fleet

    def required(self) -> Fleet:
        """The fleet in force, or a SpecError saying that none was applied yet."""
        fleet = self.current()
        if fleet is None:
            raise SpecError(
                "no fleet applied yet",
                [Problem("fleet", "none in force", None, "aiplane fleet apply")],
            )
        return fleet


def apply_fleet(
    store: Store,
    documents: FleetDocuments,
    document: Mapping[str, Any],
    source: str,
    now: float,
    resolve_local: Callable[[Fleet], Fleet] | None = None,
) -> FleetRecord:
    """Validate a fleet document (raising SpecError with every problem) and make it current.

    ``resolve_local`` fills in what only the server can know, such as the GPUs that
    ``accelerator: auto`` pools find on this machine (:func:`local_resolver`).
    """
    fleet = documents.read(document, source)
    if resolve_local is not None:
        fleet = resolve_local(fleet)
    pools = sum(1 for _ in fleet.pools())
    with store.unit_of_work() as uow:
        stored = uow.fleets.put(documents.write(fleet), now)
        record(
            uow,
            now,
            "fleet.applied",
            f"fleet v{stored.version} applied from {source}: {len(fleet.sites)} sites, "
            f"{pools} pools",
        )
    return stored


def local_resolver(backends: Backends) -> Callable[[Fleet], Fleet]:
    """What only this server can say about a fleet being applied: whether its backends take
    each pool's ``backend_config`` (a SpecError naming every problem, located in the fleet
    document), and the GPUs that ``accelerator: auto`` pools find on this machine."""

    def resolve(fleet: Fleet) -> Fleet:
        problems = [
            Problem(f"sites[{i}].pools[{j}].{p.location}", p.message, p.given, p.allowed)
            for i, site in enumerate(fleet.sites)
            for j, pool in enumerate(site.pools)
            for p in backends.config_problems(pool)
        ]
        if problems:
            n = len(problems)
            noun = "problem" if n == 1 else "problems"
            raise SpecError(f"invalid backend configuration ({n} {noun})", problems)
        sites = tuple(
            replace(site, pools=tuple(_detected(pool, backends) for pool in site.pools))
            for site in fleet.sites
        )
        return replace(fleet, sites=sites)

    return resolve


def _detected(pool: Pool, backends: Backends) -> Pool:
    """``pool`` with ``accelerator: auto`` filled in from the GPUs its backend finds here."""
    if not pool.node.auto_detect:
        return pool
    backend = backends.for_pool(pool)
    if not isinstance(backend, GpuInventory):
        return pool
    gpus = backend.gpus()
    accelerator = gpus[0].name if gpus else None
    node = NodeShape(accelerator, len(gpus), pool.node.cpus, pool.node.memory_gib)
    return replace(pool, node=node)


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


@dataclass(frozen=True)
class FleetState:
    """The fleet in force as stored (version, document) with each pool's usage."""

    record: FleetRecord
    fleet: Fleet
    usage: Mapping[str, PoolUsage]


class FleetService:
    """Applying the fleet and reading it: what ``/api/v1/fleet`` and ``aiplane fleet`` call."""

    def __init__(
        self,
        store: Store,
        cache: FleetCache,
        documents: FleetDocuments,
        backends: Backends,
        clock: Callable[[], float],
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._cache = cache
        self._documents = documents
        self._backends = backends
        self._clock = clock
        self._wake = wake

    def apply(self, document: Mapping[str, Any], source: str) -> FleetState | None:
        """Validate ``document`` against the schema and this server's backends, make it the
        fleet in force, and wake the scheduler to place work on it."""
        apply_fleet(
            self._store,
            self._documents,
            document,
            source,
            self._clock(),
            local_resolver(self._backends),
        )
        self._cache.invalidate()
        self._wake()
        return self.show()

    def show(self) -> FleetState | None:
        """The fleet in force with each pool's usage; None before the first apply."""
        stored = self._store.fleets.current()
        fleet = self._cache.current()
        if stored is None or fleet is None:
            return None
        return FleetState(stored, fleet, pool_usage(self._store, fleet))
