"""The one place that builds concrete adapters from settings and assembles the control plane."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiplane.backends.base import Backends, GpuInventory
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.errors import Problem, SpecError, TelemetryError
from aiplane.core.fleet import Fleet, NodeShape, Site
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.exporters.base import Exporter
from aiplane.exporters.parquet import ParquetExporter
from aiplane.notify.base import Notifier
from aiplane.notify.webhook import WebhookNotifier
from aiplane.pricing.base import PriceBook
from aiplane.pricing.catalog import CatalogPriceBook
from aiplane.services.budgets import BudgetCache, budget_actions, budget_remaining
from aiplane.services.costs import reserved_remaining
from aiplane.services.execution import Executor
from aiplane.services.fleet import FleetCache
from aiplane.services.scheduling import CycleInputs, LiveState
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.services.tokens import TokenVerifier
from aiplane.store.base import Store
from aiplane.telemetry.base import TelemetrySource
from aiplane.workers.costs import INTERVAL_S as COST_INTERVAL_S
from aiplane.workers.costs import cost_step
from aiplane.workers.loop import Loop
from aiplane.workers.reconciler import reconciler_step
from aiplane.workers.scheduler import scheduler_step
from aiplane.workers.telemetry import telemetry_step

log = logging.getLogger("aiplane.wiring")


def open_store(url: str) -> Store:
    if url == "memory://":
        from aiplane.store.memory import MemoryStore

        return MemoryStore()
    from aiplane.store.sql import SqlStore

    return SqlStore.open(url)


def price_book(catalog_dir: Path | None) -> PriceBook:
    if catalog_dir is not None:
        return CatalogPriceBook.from_dir(catalog_dir)
    return CatalogPriceBook.default()


def build_backends(
    work_root: Path, fleet: Callable[[], Fleet | None] = lambda: None
) -> PoolBackends:
    """Every registered backend, built per pool from its ``backend_config`` as runs need them;
    ``fleet`` gives the fleet in force (without one, pools have no backend configuration)."""
    return PoolBackends(work_root, fleet)


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
        sites: list[Site] = []
        for site in fleet.sites:
            pools = []
            for pool in site.pools:
                if pool.node.auto_detect:
                    backend = backends.for_pool(pool)
                    if isinstance(backend, GpuInventory):
                        gpus = backend.gpus()
                        accelerator = gpus[0].name if gpus else None
                        node = NodeShape(
                            accelerator, len(gpus), pool.node.cpus, pool.node.memory_gib
                        )
                        pool = replace(pool, node=node)
                pools.append(pool)
            sites.append(replace(site, pools=tuple(pools)))
        return replace(fleet, sites=tuple(sites))

    return resolve


TELEMETRY_MODES = ("auto", "nvml", "off")


def telemetry_source(settings: Settings) -> TelemetrySource | None:
    """A replayed recording when one is configured, else NVML when it works here (or when
    asked for by name, failing loudly), else none: a CPU-only machine is a normal case."""
    if settings.telemetry not in TELEMETRY_MODES:
        raise SpecError(
            "bad telemetry setting",
            [Problem("AIPLANE_TELEMETRY", "unknown mode", settings.telemetry, "auto, nvml, off")],
        )
    if settings.telemetry_replay is not None:
        from aiplane.telemetry.replay import ReplaySource

        return ReplaySource.from_file(settings.telemetry_replay)
    if settings.telemetry == "off":
        return None
    from aiplane.telemetry.nvml import NvmlSource

    try:
        return NvmlSource()
    except TelemetryError:
        if settings.telemetry == "nvml":
            raise
        return None


def telemetry_recorder(settings: Settings, store: Store, backends: Backends) -> TelemetryRecorder:
    from aiplane.telemetry.host import HostSource

    source = telemetry_source(settings)
    return TelemetryRecorder(
        source,
        store,
        backends,
        host=None if settings.telemetry == "off" else HostSource(),
        # A replay stands in for declared (emulated) GPUs as well as for real ones.
        emulated_samples=settings.telemetry_replay is not None,
    )


@dataclass
class ControlPlane:
    """Everything one control-plane process holds: store, adapters, loops."""

    settings: Settings
    store: Store
    backends: Backends
    policy: SchedulingPolicy
    clock: Callable[[], float] = time.time
    # Budget alerts go to webhooks; the cost loop's retries are the services' policy.
    notifier: Notifier = field(default_factory=WebhookNotifier)
    parquet: Exporter = field(default_factory=ParquetExporter)
    fleet_cache: FleetCache = field(default_factory=FleetCache)
    budgets: BudgetCache = field(default_factory=BudgetCache)
    loops: list[Loop] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pid = os.getpid()
        self.executor = Executor(
            self.store,
            self.backends,
            self.settings.home / "checkpoints",
            self.settings.cancel_grace_s,
        )
        self.verifier = TokenVerifier(self.store)
        self.scheduling_state = LiveState()
        self.scheduler = Loop(
            "scheduler",
            self.settings.scheduler_interval_s,
            lambda: scheduler_step(
                self.store,
                self.fleet_cache,
                self.policy,
                self.executor,
                self.clock,
                inputs=self.cycle_inputs,
                state=self.scheduling_state,
            ),
        )
        self.reconciler = Loop(
            "reconciler",
            self.settings.reconciler_interval_s,
            lambda: reconciler_step(self.executor, self.clock),
        )
        self.telemetry = telemetry_recorder(self.settings, self.store, self.backends)
        self.telemetry_loop = Loop(
            "telemetry",
            self.settings.telemetry_interval_s,
            lambda: telemetry_step(self.telemetry, self.clock),
        )

        self.costs = Loop(
            "costs",
            COST_INTERVAL_S,
            lambda: cost_step(
                self.store, self.fleet_cache, self.budgets, self.notifier, self.clock
            ),
        )

    def cycle_inputs(self) -> CycleInputs:
        """What the cost engine adds to each scheduling snapshot: budget actions and headroom.
        A failure here is logged and ignored: budgets must never stop the scheduler."""
        fleet = self.fleet_cache.get(self.store)
        if fleet is None:
            return CycleInputs()
        now = self.clock()
        try:
            return CycleInputs(
                budget_actions=budget_actions(self.store, fleet, now, self.budgets),
                budget_remaining_usd=budget_remaining(self.store, fleet, now, self.budgets),
                reserved_remaining_gpu_hours=reserved_remaining(self.store, fleet, now),
            )
        except Exception:
            log.exception("budget evaluation failed; scheduling without budget actions")
            return CycleInputs()

    @classmethod
    def from_settings(cls, settings: Settings) -> ControlPlane:
        settings.home.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.database_url)
        fleet_cache = FleetCache()
        return cls(
            settings=settings,
            store=store,
            backends=build_backends(settings.work_root, lambda: fleet_cache.get(store)),
            policy=Engine(),
            fleet_cache=fleet_cache,
        )

    def start(self) -> dict[str, int]:
        recovered = self.executor.recover(self.clock())
        self.scheduler.start()
        self.reconciler.start()
        self.telemetry_loop.start()
        self.costs.start()
        return recovered

    def stop(self) -> None:
        self.scheduler.stop()
        self.reconciler.stop()
        self.telemetry_loop.stop()
        self.costs.stop()
        self.telemetry.close()
        self.store.close()
