"""References to registry objects: ``name``, ``name@3``, ``name@production``, ``name@latest``.

A reference names a model or a dataset and, after ``@``, either a version number or an alias.
``latest`` is the newest version (never an alias one can move); a bare name means ``latest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiplane.core.errors import Problem, SpecError

LATEST = "latest"
# The names of models, datasets and aliases: what the rest of aiplane allows for names.
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
NAME_RULE = "lower-case letters, digits, '.', '_' and '-', 1 to 63 characters"


@dataclass(frozen=True)
class Ref:
    """``version`` or ``alias`` (at most one); neither: the latest version."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias or LATEST}"


def name_problem(name: str, location: str, what: str = "name") -> Problem | None:
    if NAME_RE.match(name):
        return None
    return Problem(location, f"invalid {what}", repr(name), NAME_RULE)


def parse_ref(text: str, location: str = "ref") -> Ref:
    """``text`` as a reference, else a SpecError at ``location``."""
    name, sep, after = text.partition("@")
    problems = []
    named = name_problem(name, location)
    if named is not None:
        problems.append(named)
    if sep and not after:
        problems.append(
            Problem(location, "nothing after '@'", repr(text), "a version number or an alias")
        )
    if problems:
        raise SpecError("invalid reference", problems)
    if not sep or after == LATEST:
        return Ref(name)
    if after.isdigit():
        version = int(after)
        if version < 1:
            raise SpecError(
                "invalid reference",
                [Problem(location, "versions start at 1", repr(text), "name@N with N >= 1")],
            )
        return Ref(name, version=version)
    alias = name_problem(after, location, "alias")
    if alias is not None:
        raise SpecError("invalid reference", [alias])
    return Ref(name, alias=after)
