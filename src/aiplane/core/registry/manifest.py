"""Artifact manifests: what an artifact is, file by file.

An artifact (a model version's files, a dataset version's) is a manifest of ``(path, sha256,
size)`` entries, sorted by path. Its digest is the sha256 of its canonical JSON, so two
artifacts with the same files have the same digest, and a file's bytes are stored once under
their own sha256 however many artifacts hold them. Comparing two manifests names every file
that differs: what verification reports when the bytes on hand are not the bytes registered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from aiplane.core.errors import Problem, SpecError

SHA256_PREFIX = "sha256:"


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative, POSIX separators, no '.' or '..' parts
    sha256: str  # lower-case hex, no prefix
    size: int


def path_problem(path: str, location: str) -> Problem | None:
    """Why ``path`` cannot name a file of an artifact, or None."""
    parts = PurePosixPath(path).parts
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in {".", ".."} for p in path.split("/"))
        or "/".join(parts) != path
    ):
        return Problem(location, "invalid artifact path", repr(path), "a relative POSIX path")
    return None


@dataclass(frozen=True)
class Manifest:
    entries: tuple[ManifestEntry, ...]

    @classmethod
    def of(cls, entries: Iterable[ManifestEntry]) -> Manifest:
        """Sorted by path; a duplicate or invalid path, or a malformed digest, is refused."""
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        problems = []
        for i, entry in enumerate(ordered):
            where = f"manifest[{entry.path}]"
            bad_path = path_problem(entry.path, where)
            if bad_path is not None:
                problems.append(bad_path)
            if i and ordered[i - 1].path == entry.path:
                problems.append(Problem(where, "path listed twice"))
            if len(entry.sha256) != 64 or any(c not in "0123456789abcdef" for c in entry.sha256):
                problems.append(
                    Problem(where, "invalid sha256", repr(entry.sha256), "64 lower-case hex")
                )
            if entry.size < 0:
                problems.append(Problem(where, "negative size", str(entry.size), ">= 0"))
        if problems:
            raise SpecError("invalid manifest", problems)
        return cls(ordered)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def file_count(self) -> int:
        return len(self.entries)

    def canonical(self) -> bytes:
        """The bytes that the digest is over and that a signature signs."""
        return json.dumps(
            [[e.path, e.sha256, e.size] for e in self.entries], separators=(",", ":")
        ).encode()

    @property
    def digest(self) -> str:
        return SHA256_PREFIX + hashlib.sha256(self.canonical()).hexdigest()

    def entry(self, path: str) -> ManifestEntry | None:
        return next((e for e in self.entries if e.path == path), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.entries]
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        return cls.of(
            ManifestEntry(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in data["files"]
        )


class Difference(StrEnum):
    CHANGED = "changed"  # the file is there with other bytes
    MISSING = "missing"  # registered, not there
    ADDED = "added"  # there, never registered


@dataclass(frozen=True)
class FileDifference:
    path: str
    kind: Difference
    expected: str | None = None  # the registered sha256
    found: str | None = None

    def __str__(self) -> str:
        if self.kind is Difference.CHANGED:
            return f"{self.path}: changed (registered sha256 {self.expected}, found {self.found})"
        return f"{self.path}: {self.kind}"


def differences(registered: Manifest, found: Manifest) -> list[FileDifference]:
    """Every file where ``found`` departs from ``registered``, by path."""
    have = {e.path: e for e in found.entries}
    out = []
    for entry in registered.entries:
        other = have.pop(entry.path, None)
        if other is None:
            out.append(FileDifference(entry.path, Difference.MISSING, entry.sha256))
        elif (other.sha256, other.size) != (entry.sha256, entry.size):
            out.append(FileDifference(entry.path, Difference.CHANGED, entry.sha256, other.sha256))
    out.extend(FileDifference(p, Difference.ADDED, None, e.sha256) for p, e in have.items())
    return sorted(out, key=lambda d: d.path)
