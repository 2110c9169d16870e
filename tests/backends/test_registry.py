from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.backends.emulated import EmulatedBackend
from aiplane.backends.local import LocalBackend
from aiplane.backends.registry import BACKENDS, build_backend
from aiplane.core.errors import BackendError


def test_known_backends(tmp_path: Path) -> None:
    assert BACKENDS == ("local", "emulated")
    assert isinstance(build_backend("local", tmp_path), LocalBackend)
    assert isinstance(build_backend("emulated", tmp_path), EmulatedBackend)
    for name in BACKENDS:
        backend = build_backend(name, tmp_path)
        assert backend.name == name
        assert backend.emulated is (name == "emulated")


def test_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as caught:
        build_backend("slurm", tmp_path)
    assert "local, emulated" in str(caught.value)
    assert caught.value.code == "backend_error"
