from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.backends import procfs
from aiplane.backends.base import Backend, Handle, LaunchSpec
from aiplane.backends.registry import BACKENDS, build_backend


class Tracking:
    """A backend wrapper that remembers every handle, so a test never leaks processes."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.handles: list[Handle] = []

    def launch(self, spec: LaunchSpec) -> Handle:
        handle = self.inner.launch(spec)
        self.handles.append(handle)
        return handle

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def cleanup(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(Exception):
                # Read directly, never waited for: some replicas never start (cancelled early).
                record = json.loads((Path(handle["dir"]) / "supervisor.json").read_text())
                if procfs.is_alive(record["pid"], record["start_ticks"]):
                    os.kill(record["pid"], signal.SIGKILL)
                # Only our own group: matching the session rules out a reused pgid.
                if procfs.group_members(record["child_pgid"], record["session"]):
                    os.killpg(record["child_pgid"], signal.SIGKILL)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    tracking = Tracking(build_backend(request.param, tmp_path / "work"))
    yield tracking  # type: ignore[misc]
    tracking.cleanup()


@pytest.fixture
def work_root(backend: Backend) -> Path:
    return Path(backend._launcher.work_root)  # type: ignore[attr-defined]
