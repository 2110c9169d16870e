"""Reading a pool's ``backend_config``: typed settings out, every problem collected.

Each backend's factory reads its settings with a :class:`ConfigReader` and calls ``done``, which
raises one :class:`BackendConfigError` naming each bad setting, what was given and what is
allowed, located relative to ``backend_config`` (the caller adds the pool's place in the fleet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.backends.base import BackendConfig, BackendConfigError
from aiplane.core.errors import Problem


class ConfigReader:
    """Typed reads of one backend's settings; unknown settings are problems too."""

    def __init__(self, backend: str, config: BackendConfig, allowed: Mapping[str, str]) -> None:
        """``allowed`` maps each setting the backend takes to what it accepts (for messages)."""
        self.backend = backend
        self.config = config
        self.allowed = allowed
        self.problems: list[Problem] = []
        for key, value in config.items():
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                self.add(str(key), f"unknown setting for the {backend} backend", value, names)

    def add(self, location: str, message: str, given: Any, allowed: str) -> None:
        self.problems.append(Problem(location, message, repr(given), allowed))

    def text(self, key: str, default: str) -> str:
        value = self.config.get(key, default)
        if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
            self.add(key, "expected a word without spaces", value, self.allowed[key])
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            self.add(key, "expected true or false", value, self.allowed[key])
            return default
        return value

    def integer(self, location: str, value: Any, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(location, "out of range or not a whole number", value, f"{low} to {high}")
            return None
        return value

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        """The setting when it is a mapping; None when absent (or, with a problem, not one)."""
        value = self.config.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.add(key, "expected a mapping", value, self.allowed[key])
            return None
        return value

    def section(self, key: str, keys: Sequence[str]) -> Mapping[str, Any] | None:
        """:meth:`mapping`, with each setting in it other than ``keys`` a problem."""
        value = self.mapping(key)
        for name, given in (value or {}).items():
            if name not in keys:
                self.add(f"{key}.{name}", "unknown setting", given, ", ".join(keys))
        return value

    def done(self) -> None:
        if self.problems:
            n = len(self.problems)
            raise BackendConfigError(
                f"invalid configuration for the {self.backend} backend "
                f"({n} {'problem' if n == 1 else 'problems'})",
                list(self.problems),
            )
