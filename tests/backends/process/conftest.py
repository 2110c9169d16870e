from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.backends.base import Backend
from aiplane.backends.process.backend import ProcessBackend
from aiplane.backends.registry import build_backend
from tests.backends.drivers import kill_replicas

PROCESS_MEMBERS = ("local", "emulated")


@pytest.fixture(params=PROCESS_MEMBERS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    built = build_backend(request.param, tmp_path / "work")
    yield built
    kill_replicas(tmp_path / "work")


@pytest.fixture
def work_root(backend: Backend) -> Path:
    assert isinstance(backend, ProcessBackend)
    return backend.work_root
