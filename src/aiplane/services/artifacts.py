"""Bytes into the content-addressed store: which blobs are missing, resumable uploads,
verified on commit. What the bytes become (a model's or a dataset's version) is decided by
the registration that names them in its manifest, with the team's access."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from aiplane.core.auth import Caller
from aiplane.core.auth.policy import Action, Resource
from aiplane.core.errors import NotFoundError, Problem, SpecError
from aiplane.core.registry.manifest import Manifest
from aiplane.services.access import Access
from aiplane.services.registry_ports import Blobs
from aiplane.services.registry_types import UploadState

_HEX = frozenset("0123456789abcdef")
MAX_DIGESTS = 100_000


def digest_problem(sha256: str, location: str) -> Problem | None:
    if len(sha256) == 64 and set(sha256) <= _HEX:
        return None
    return Problem(location, "invalid sha256", repr(sha256[:80]), "64 lower-case hex digits")


def _checked(sha256: str) -> str:
    problem = digest_problem(sha256, "sha256")
    if problem is not None:
        raise SpecError("invalid blob digest", [problem])
    return sha256


class ArtifactService:
    def __init__(self, blobs: Blobs, *, access: Access) -> None:
        self._blobs = blobs
        self._access = access

    def _allowed(self, caller: Caller) -> None:
        self._access.check(caller, Action.ARTIFACT_UPLOAD, Resource("artifact"))

    def missing(self, caller: Caller, digests: Iterable[str]) -> list[str]:
        self._allowed(caller)
        wanted = list(dict.fromkeys(digests))
        problems = [p for i, d in enumerate(wanted) if (p := digest_problem(d, f"digests[{i}]"))]
        if problems:
            raise SpecError("invalid blob digests", problems[:50])
        return [d for d in wanted if not self._blobs.has(d)]

    def state(self, caller: Caller, sha256: str) -> UploadState:
        self._allowed(caller)
        _checked(sha256)
        if self._blobs.has(sha256):
            return UploadState(sha256, self._blobs.size(sha256) or 0, True)
        return UploadState(sha256, self._blobs.received(sha256), False)

    def append(
        self, caller: Caller, sha256: str, chunks: Iterable[bytes], offset: int
    ) -> UploadState:
        """Write ``chunks`` at ``offset`` of the upload (ConflictError unless it is where the
        upload stands: resume from ``state``)."""
        self._allowed(caller)
        _checked(sha256)
        if self._blobs.has(sha256):
            return UploadState(sha256, self._blobs.size(sha256) or 0, True)
        return UploadState(sha256, self._blobs.append(sha256, chunks, offset), False)

    def commit(self, caller: Caller, sha256: str) -> UploadState:
        """Verify what arrived against ``sha256`` and store it (IntegrityError otherwise; the
        partial upload is discarded)."""
        self._allowed(caller)
        _checked(sha256)
        if not self._blobs.has(sha256):
            self._blobs.commit(sha256)
        return UploadState(sha256, self._blobs.size(sha256) or 0, True)


def open_entry(
    blobs: Blobs, manifest: Manifest, ref: str, path: str, offset: int
) -> tuple[int, str, BinaryIO]:
    """One file of an artifact: (size, sha256, a stream from ``offset``)."""
    entry = manifest.entry(path)
    if entry is None:
        raise NotFoundError(f"{ref} has no file {path!r}")
    if not 0 <= offset <= entry.size:
        raise SpecError(
            "invalid range", [Problem("offset", "out of range", str(offset), f"0..{entry.size}")]
        )
    return entry.size, entry.sha256, blobs.open_read(entry.sha256, offset)
