from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.builders import local_fleet_document
from tests.identities import admin_caller, role_headers


@dataclass
class Clock:
    """The wall clock, until a test fixes it."""

    fixed: float | None = None

    def __call__(self) -> float:
        return time.time() if self.fixed is None else self.fixed


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cp(tmp_path: Path, clock: Clock) -> ControlPlane:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
        clock=clock,
    )


@pytest.fixture
def api(cp: ControlPlane) -> Iterator[TestClient]:
    with TestClient(create_app(cp.services)) as client:
        yield client


@pytest.fixture
def tokens(cp: ControlPlane) -> dict[str, dict[str, str]]:
    """Bearer headers by role: viewer and member of team "t", operator, admin."""
    return role_headers(cp.services)


@pytest.fixture
def fleet_applied(cp: ControlPlane) -> None:
    """A small fleet in force (one local pool of 2 CPUs): a submission needs one (decision
    0031). The loops are not started, so nothing submitted runs."""
    cp.services.fleet.apply(admin_caller(), local_fleet_document(), "fleet.yaml")
