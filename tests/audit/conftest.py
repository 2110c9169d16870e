"""A control plane over the memory store with a real Ed25519 key under its home, and a log
filled through the services the way the API fills it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from aiplane.store.sql import SqlStore
from aiplane.wiring import ControlPlane
from tests.store.conftest import PostgresServer, postgres_server

__all__ = ["postgres_server"]  # the PostgreSQL fixture, shared with the store's tests


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


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A store on a fresh database of each SQL kind (PostgreSQL: one of its own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/aiplane.db"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    store = SqlStore.open(url)
    try:
        yield store
    finally:
        store.close()
