"""A control plane over the memory store with a real Ed25519 key under its home, and a log
filled through the services the way the API fills it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane


def control_plane(home: Path, store: Store) -> ControlPlane:
    settings = Settings(home=home, database_url="memory://", catalog_dir=None)
    return ControlPlane(
        settings=settings,
        store=store,
        backends=PoolBackends(home / "work"),
        policy=PriorityBestFit(),
    )


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def cp(tmp_path: Path, memory_store: MemoryStore) -> ControlPlane:
    return control_plane(tmp_path, memory_store)
