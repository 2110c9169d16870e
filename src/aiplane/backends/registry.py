"""Backends by name: the one module that knows every adapter (they do not know each other)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiplane.backends.base import Backend
from aiplane.backends.emulated import EmulatedBackend
from aiplane.backends.local import LocalBackend
from aiplane.core.errors import BackendError, Problem

_FACTORIES: dict[str, Callable[[Path], Backend]] = {
    "local": LocalBackend,
    "emulated": EmulatedBackend,
}
BACKENDS: tuple[str, ...] = tuple(_FACTORIES)


def build_backend(name: str, work_root: Path) -> Backend:
    """A backend named ``name`` keeping its run directories under ``work_root``."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise BackendError(
            f"unknown backend {name!r}",
            [Problem("backend", "unknown backend", repr(name), ", ".join(BACKENDS))],
        )
    return factory(Path(work_root))
