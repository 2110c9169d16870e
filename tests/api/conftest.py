from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.config import Settings
from aiplane.core.auth import Role
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.services.tokens import create_token
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane, build_backends


@pytest.fixture
def cp(tmp_path: Path) -> ControlPlane:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=build_backends(tmp_path / "work"),
        policy=PriorityBestFit(),
    )


@pytest.fixture
def api(cp: ControlPlane) -> Iterator[TestClient]:
    with TestClient(create_app(cp, run_loops=False)) as client:
        yield client


@pytest.fixture
def tokens(cp: ControlPlane) -> dict[Role, dict[str, str]]:
    out = {}
    for role in Role:
        _, plaintext = create_token(cp.store, f"{role}-user", role, 0.0)
        out[role] = {"Authorization": f"Bearer {plaintext}"}
    return out
