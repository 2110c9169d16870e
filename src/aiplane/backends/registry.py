"""Backends by name, and the pools' backends: the one module that knows every adapter (they do
not know each other).

A pool names its backend and may configure it (``backend_config``); :class:`PoolBackends`
builds one backend per distinct (name, configuration), lazily, and finds the one for a
placement through the fleet in force. The fake is not registered: tests hand
:class:`PoolBackends` its factory.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from aiplane.backends.base import Backend, BackendConfig, BackendConfigError, BackendFactory
from aiplane.backends.emulated import EmulatedBackend
from aiplane.backends.local import LocalBackend
from aiplane.backends.process.backend import ProcessBackend
from aiplane.core.errors import BackendError, Problem
from aiplane.core.fleet import Fleet, Pool
from aiplane.core.runs import Placement

FACTORIES: Mapping[str, BackendFactory] = {
    "local": LocalBackend,
    "emulated": EmulatedBackend,
}
BACKENDS: tuple[str, ...] = tuple(FACTORIES)
# The base environment of local replicas, asked for at each launch.
Environment = Callable[[], Mapping[str, str]]


def build_backend(
    name: str,
    work_root: Path,
    config: BackendConfig | None = None,
    factories: Mapping[str, BackendFactory] = FACTORIES,
    environment: Environment | None = None,
) -> Backend:
    """A backend named ``name`` for a pool configured with ``config``, keeping its files under
    ``work_root``; BackendError for an unknown name, BackendConfigError for a bad config.

    ``environment`` is the base environment of the replicas of the backends that start local
    processes (the control plane's less its secrets)."""
    factory = factories.get(name)
    if factory is None:
        known = ", ".join(factories)
        raise BackendError(
            f"unknown backend {name!r}", [Problem("backend", "unknown backend", repr(name), known)]
        )
    if (
        environment is not None
        and isinstance(factory, type)
        and issubclass(factory, ProcessBackend)
    ):
        return factory(Path(work_root), config or {}, environment=environment)
    return factory(Path(work_root), config or {})


class PoolBackends:
    """The control plane's :class:`~aiplane.backends.base.Backends`: a backend per pool.

    ``fleet`` gives the fleet in force (None before one is applied); a pool that left the fleet
    keeps the configuration it was last seen with, so its runs can still be stopped.
    ``environment`` goes to the backends that start local processes (``build_backend``).
    """

    def __init__(
        self,
        work_root: Path,
        fleet: Callable[[], Fleet | None] = lambda: None,
        factories: Mapping[str, BackendFactory] = FACTORIES,
        environment: Environment | None = None,
    ) -> None:
        self.work_root = Path(work_root)
        self.factories = factories
        self._environment = environment
        self._fleet = fleet
        self._lock = threading.Lock()
        self._seen: Fleet | None = None
        self._configs: dict[str, BackendConfig] = {}  # pool key -> its backend_config
        self._built: dict[tuple[str, str], Backend] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.factories)

    def for_placement(self, placement: Placement) -> Backend:
        return self._backend(placement.backend, self._config_of(placement.pool))

    def for_pool(self, pool: Pool) -> Backend:
        return self._backend(pool.backend, pool.backend_config)

    def config_problems(self, pool: Pool) -> list[Problem]:
        try:
            self.for_pool(pool)
        except BackendConfigError as exc:
            return [
                Problem(f"backend_config.{p.location}", p.message, p.given, p.allowed)
                for p in exc.problems
            ]
        except BackendError as exc:
            return exc.problems or [Problem("backend", exc.message)]
        return []

    def _config_of(self, pool_key: str) -> BackendConfig:
        fleet = self._fleet()
        with self._lock:
            if fleet is not None and fleet is not self._seen:
                self._configs.update({p.key: p.backend_config for p in fleet.pools()})
                self._seen = fleet
            return self._configs.get(pool_key, {})

    def _backend(self, name: str, config: BackendConfig) -> Backend:
        key = (name, json.dumps(config, sort_keys=True))
        with self._lock:
            backend = self._built.get(key)
            if backend is None:
                backend = build_backend(
                    name, self.work_root, config, self.factories, self._environment
                )
                self._built[key] = backend
            return backend
