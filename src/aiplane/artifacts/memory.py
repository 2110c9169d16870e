"""Blobs in a dict: the store that unit tests of the layers above use. Same contract, same
errors as the others (``tests/artifacts/test_contract.py``)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

from aiplane.artifacts.base import (
    BlobStore,
    check_sha256,
    digest_mismatch,
    missing_blob,
    no_upload,
    offset_conflict,
)
from aiplane.core.errors import NotFoundError


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._partials: dict[str, bytearray] = {}

    @property
    def url(self) -> str:
        return f"memory://{id(self):x}"

    def has(self, sha256: str) -> bool:
        return check_sha256(sha256) in self.blobs

    def size(self, sha256: str) -> int | None:
        blob = self.blobs.get(check_sha256(sha256))
        return None if blob is None else len(blob)

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO:
        blob = self.blobs.get(check_sha256(sha256))
        if blob is None:
            raise NotFoundError(f"blob {sha256} not found", [missing_blob(sha256)])
        stream = io.BytesIO(blob)
        stream.seek(offset)
        return stream

    def received(self, sha256: str) -> int:
        return len(self._partials.get(check_sha256(sha256), b""))

    def append(self, sha256: str, chunks: Iterable[bytes], offset: int) -> int:
        have = self.received(sha256)
        if offset != have:
            raise offset_conflict(sha256, offset, have)
        partial = self._partials.setdefault(sha256, bytearray())
        for chunk in chunks:
            partial += chunk
        return len(partial)

    def commit(self, sha256: str) -> None:
        partial = self._partials.pop(check_sha256(sha256), None)
        if partial is None:
            raise no_upload(sha256)
        found = hashlib.sha256(partial).hexdigest()
        if found != sha256:
            raise digest_mismatch(sha256, found)
        self.blobs.setdefault(sha256, bytes(partial))

    def abort(self, sha256: str) -> None:
        self._partials.pop(check_sha256(sha256), None)

    def verify(self, sha256: str) -> str:
        with self.open_read(sha256) as stream:
            return hashlib.sha256(stream.read()).hexdigest()

    def delete(self, sha256: str) -> None:
        self.blobs.pop(check_sha256(sha256), None)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: BlobStore = MemoryBlobStore()
