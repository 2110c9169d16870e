"""Helpers for the artifact tests: put a blob, tamper with one behind the store's back."""

from __future__ import annotations

import hashlib

from aiplane.artifacts.base import BlobStore
from aiplane.artifacts.fsspec import FsspecBlobStore
from aiplane.artifacts.local import LocalBlobStore
from aiplane.artifacts.memory import MemoryBlobStore


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(store: BlobStore, data: bytes, chunk: int = 7) -> str:
    digest = sha(data)
    store.append(digest, (data[i : i + chunk] for i in range(0, len(data), chunk)), 0)
    store.commit(digest)
    return digest


def tamper(store: BlobStore, digest: str, data: bytes) -> None:
    """Replace the stored bytes of ``digest`` with ``data``, as a disk fault or a hand would."""
    if isinstance(store, MemoryBlobStore):
        store.blobs[digest] = data
    elif isinstance(store, LocalBlobStore):
        store.blob_path(digest).write_bytes(data)
    elif isinstance(store, FsspecBlobStore):
        store.fs.pipe_file(store._blob(digest), data)
    else:
        raise TypeError(store)
