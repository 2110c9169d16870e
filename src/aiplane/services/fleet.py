"""The fleet: apply a document, read what is in force and how full each pool is."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aiplane.backends.base import Backends, GpuInventory
from aiplane.core.auth import Action, Caller, Resource
from aiplane.core.errors import Problem, SpecError
from aiplane.core.fleet import Dataset, Fleet, NodeShape, Pool
from aiplane.core.runs import ACTIVE
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.events import record
from aiplane.services.ports import FleetDocuments
from aiplane.services.types import FleetState, PoolUsage
from aiplane.store.base import FleetRecord, Repositories, Store


class FleetCache:
    """The fleet in force, parsed once per stored version and re-read at most every
    ``ttl_s`` seconds, so a busy API does not load the fleet document on every submission.

    ``invalidate`` after a local apply makes the change visible at once; a fleet applied
    through another control-plane replica becomes visible within ``ttl_s``. The store is read
    outside the lock, so a slow reader may come back with a version older than one a faster
    reader cached meanwhile: only a version at least as new as the cached one is taken.
    """

    def __init__(
        self,
        store: Store,
        documents: FleetDocuments,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        datasets: Callable[[], Sequence[Dataset]] | None = None,
    ) -> None:
        self._store = store
        self._documents = documents
        # The registry's dataset versions, added to the fleet's own: what placement weighs
        # (read again with the fleet, every ``ttl_s`` or after ``invalidate``).
        self._datasets = datasets
        self._lock = threading.Lock()
        self._ttl_s = ttl_s
        self._clock = clock
        self._checked_at = -float("inf")
        self._invalidations = 0
        self._in_force: tuple[FleetRecord, Fleet] | None = None
        self._declared = Fleet()  # the fleet in force as its document declares it
        # Stored versions never change: each is parsed once, for the cost history.
        self._parsed: dict[int, Fleet] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = -float("inf")
            self._invalidations += 1

    def in_force(self) -> tuple[FleetRecord, Fleet] | None:
        """The fleet in force as stored (version, document) and parsed, read together."""
        now = self._clock()
        with self._lock:
            if now - self._checked_at < self._ttl_s:
                return self._in_force
            invalidations = self._invalidations
        stored = self._store.fleets.current()
        registered = tuple(self._datasets()) if self._datasets is not None else None
        with self._lock:
            cached = self._in_force
            # Fleets are only ever added: a read older than what is cached lost a race with
            # a faster one, and what is cached stays.
            if stored is not None and (cached is None or stored.version > cached[0].version):
                self._declared = self._documents.read(stored.document, "stored fleet")
                self._in_force = (stored, self._declared)
            if registered is not None and self._in_force is not None:
                own = self._declared
                merged = replace(own, datasets=(*own.datasets, *registered))
                self._in_force = (self._in_force[0], merged)
            if invalidations == self._invalidations:
                # A read begun before an invalidation may predate the change it announced:
                # it must not keep the next callers from reading again.
                self._checked_at = max(self._checked_at, now)
            return self._in_force

    def history(self, until: float) -> list[tuple[float, Fleet]]:
        """The fleet versions applied at or before ``until`` as (applied_at, fleet), oldest
        first: which capacity existed when, for idle cost (decision 0030)."""
        out = []
        for stored in self._store.fleets.history(until):
            with self._lock:
                fleet = self._parsed.get(stored.version)
            if fleet is None:
                fleet = self._documents.read(stored.document, "stored fleet")
                with self._lock:
                    self._parsed[stored.version] = fleet
            out.append((stored.applied_at, fleet))
        return out

    def current(self) -> Fleet | None:
        found = self.in_force()
        return found[1] if found is not None else None

    def required(self) -> Fleet:
        """The fleet in force, or a SpecError saying that none was applied yet."""
        fleet = self.current()
        if fleet is None:
            raise SpecError(
                "no fleet applied yet",
                [Problem("fleet", "none in force", None, "aiplane fleet apply")],
            )
        return fleet


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
        *,
        access: Access,
        audit: AuditLog,
        declare: Callable[[Repositories, Fleet, float], None] | None = None,
    ) -> None:
        self._access = access
        self._audit = audit
        # Registers the fleet's datasets in the registry, in the apply's unit of work.
        self._declare = declare
        self._store = store
        self._cache = cache
        self._documents = documents
        self._backends = backends
        self._clock = clock
        self._wake = wake

    def apply(self, caller: Caller, document: Mapping[str, Any], source: str) -> FleetState | None:
        """Validate ``document`` (raising SpecError with every problem) against the schema and
        this server's backends (:func:`local_resolver`: each pool's ``backend_config``, and the
        GPUs that ``accelerator: auto`` pools find here), make it the fleet in force (the new
        version and its event in one unit of work), and wake the scheduler to place work on
        it. Operators and admins only; the entry in the audit log commits with the version."""
        self._access.check(caller, Action.FLEET_APPLY, Resource("fleet"))
        now = self._clock()
        fleet = local_resolver(self._backends)(self._documents.read(document, source))
        pools = sum(1 for _ in fleet.pools())
        with self._store.unit_of_work() as uow:
            stored = uow.fleets.put(self._documents.write(fleet), now)
            if self._declare is not None:
                self._declare(uow, fleet, now)
            record(
                uow,
                now,
                "fleet.applied",
                f"fleet v{stored.version} applied from {source}: {len(fleet.sites)} sites, "
                f"{pools} pools",
            )
            self._audit.record(
                uow,
                caller,
                str(Action.FLEET_APPLY),
                f"fleet/v{stored.version}",
                detail={"source": source, "sites": len(fleet.sites), "pools": pools},
            )
        self._cache.invalidate()
        self._wake()
        return self._state()

    def show(self, caller: Caller, *, document: bool = False) -> FleetState | None:
        """The fleet in force with each pool's usage; None before the first apply. Its whole
        ``document`` (every team's budgets and quotas) is for operators and admins: to anyone
        else, the pools only."""
        self._access.check(caller, Action.FLEET_READ, Resource("fleet"))
        if document:
            self._access.check(caller, Action.FLEET_DOCUMENT_READ, Resource("fleet"))
        return self._state()

    def _state(self) -> FleetState | None:
        found = self._cache.in_force()
        if found is None:
            return None
        stored, fleet = found
        return FleetState(stored, fleet, pool_usage(self._store, fleet))
