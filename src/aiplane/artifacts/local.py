"""Blobs in a local folder: ``root/blobs/sha256/ab/<hex>``, partial uploads in ``root/uploads``.

Concurrency: each ``append`` and ``commit`` holds an exclusive ``flock`` on the partial file,
so a second writer of the same blob is refused (ConflictError) rather than interleaved.

Durability: an upload is appended to ``uploads/<hex>.partial`` and fsynced at the end of each
``append`` (so ``received`` after a crash counts only bytes on disk); ``commit`` renames it into
place and fsyncs the directory, so a blob is either whole under its name or absent.

Speed: the digest is computed while the bytes are written, in one pass, by a helper thread
that hashes each chunk while this one writes it (OpenSSL and ``write`` both release the
GIL), so ``commit`` re-reads nothing when this store instance saw the whole upload. After a
restart the digest state is gone (hashlib cannot be saved), and ``commit`` hashes the partial
file once, or resumes hashing: ``append`` after a restart first hashes what was there.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from aiplane.artifacts.base import (
    BlobStore,
    check_sha256,
    digest_mismatch,
    missing_blob,
    no_upload,
    offset_conflict,
)
from aiplane.artifacts.streams import RunningDigest, hash_stream
from aiplane.core.errors import ConflictError, NotFoundError, Problem


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(partial: Path, sha256: str, *, create: bool) -> Iterator[int]:
    """The partial upload's file, held under an exclusive lock for one append or commit.

    A second writer of the same blob (another request, another process) gets a ConflictError
    at once instead of interleaving its bytes. The lock is on the file: one that was renamed
    into place (committed) or removed while this caller waited to open it is not the partial
    any more, and is refused too, so nothing is ever appended to a stored blob.
    """
    flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
    try:
        fd = os.open(partial, flags, 0o644)
    except FileNotFoundError:
        raise no_upload(sha256) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(sha256) from None
        try:
            current = os.stat(partial).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(fd).st_ino:
            raise _busy(sha256)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _busy(sha256: str) -> ConflictError:
    return ConflictError(
        f"another upload of blob {sha256} is under way",
        [Problem(f"upload {sha256}", "busy: held by another writer", allowed="one at a time")],
    )


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs" / "sha256"
        self._uploads = self.root / "uploads"
        self._running: dict[str, RunningDigest] = {}
        self._lock = threading.Lock()
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-hash")

    @property
    def url(self) -> str:
        return self.root.resolve().as_uri()

    def blob_path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self._blobs / sha256[:2] / sha256

    def _partial(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self._uploads / f"{sha256}.partial"

    def has(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.blob_path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO:
        try:
            stream = self.blob_path(sha256).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {sha256} not found", [missing_blob(sha256)]) from None
        stream.seek(offset)
        return stream

    def received(self, sha256: str) -> int:
        try:
            return self._partial(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, sha256: str, chunks: Iterable[bytes], offset: int) -> int:
        partial = self._partial(sha256)
        partial.parent.mkdir(parents=True, exist_ok=True)
        with _locked(partial, sha256, create=True) as fd:
            have = os.fstat(fd).st_size
            if offset != have:
                raise offset_conflict(sha256, offset, have)
            with self._lock:
                running = self._running.pop(sha256, None)
            if running is None or running.at != have:
                running = RunningDigest(hashlib.sha256(), 0)
                if have:  # a partial left by another process: catch the digest up, once
                    with partial.open("rb") as stream:
                        hash_stream(stream, running.hasher)
                    running.at = have
            written = hashed = have
            try:
                for chunk in chunks:
                    # Chunk n is hashed while it is written, and done before chunk n+1 is
                    # asked for, so a caller may reuse its buffer.
                    pending = self._hashing.submit(running.hasher.update, chunk)
                    try:
                        view = memoryview(chunk)
                        while view:
                            n = os.write(fd, view)
                            view = view[n:]
                            written += n
                    finally:
                        pending.result()
                        hashed += len(chunk)
                os.fsync(fd)
            finally:
                # A write that failed mid-chunk leaves a digest ahead of the file: start over.
                running.at = written if hashed == written else -1
                with self._lock:
                    self._running[sha256] = running
        return written

    def commit(self, sha256: str) -> None:
        partial = self._partial(sha256)
        with _locked(partial, sha256, create=False) as fd:
            have = os.fstat(fd).st_size
            with self._lock:
                running = self._running.pop(sha256, None)
            if running is None or running.at != have:
                with partial.open("rb") as stream:
                    running = RunningDigest(hash_stream(stream), have)
            found = running.hasher.hexdigest()
            if found != sha256:
                partial.unlink(missing_ok=True)
                raise digest_mismatch(sha256, found)
            target = self.blob_path(sha256)
            if target.is_file():  # stored already: dedupe, never rewrite
                partial.unlink(missing_ok=True)
                return
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                _fsync_dir(target.parent.parent)  # the new ab/ folder's own entry
            # The partial was fsynced by append; the folder's fsync makes the rename durable.
            os.replace(partial, target)
            _fsync_dir(target.parent)

    def abort(self, sha256: str) -> None:
        with self._lock:
            self._running.pop(sha256, None)
        self._partial(sha256).unlink(missing_ok=True)

    def verify(self, sha256: str) -> str:
        with self.open_read(sha256) as stream:
            return hash_stream(stream).hexdigest()

    def delete(self, sha256: str) -> None:
        self.blob_path(sha256).unlink(missing_ok=True)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: BlobStore = LocalBlobStore(Path())
