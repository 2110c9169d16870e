"""Blobs behind any fsspec URL (``s3://bucket/prefix``, ``gs://``, ``file://``...); fsspec and
the file system's own package (s3fs for S3: the ``s3`` extra) are imported when a store is made.

Layout under the URL: ``blobs/sha256/ab/<hex>``, and for an upload under way
``uploads/<hex>/part-<offset>``, one object per ``append`` (decision 0043). ``received`` is
the length of the parts that follow each other from 0; ``commit`` checks the digest (kept
while appending in this instance, else read back from the parts once) and composes the parts
under the blob's name: a single part is moved there; on S3, parts of 5 MiB or more (but the
last) are copied into one multipart object by the server itself (s3fs ``merge``); otherwise
they are concatenated into ``uploads/<hex>/assembled``, which is moved there (a server-side
copy on S3, a rename on a disk). Either way a blob is never visible half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from aiplane.artifacts.base import (
    CHUNK_SIZE,
    BlobStore,
    check_sha256,
    digest_mismatch,
    missing_blob,
    no_upload,
    offset_conflict,
)
from aiplane.artifacts.streams import RunningDigest, hash_stream
from aiplane.core.errors import MissingDependencyError, NotFoundError

_PART = "part-"
# S3's limits on a multipart upload's parts (each copied from one part object).
_MIN_PART = 5 * 1024 * 1024
_MAX_PART = 5 * 1024 * 1024 * 1024
_MAX_PARTS = 10_000


def _server_side_merge(fs: Any, sizes: list[int]) -> bool:
    """Whether s3fs can compose these parts on the server: every part but the last at least
    5 MiB, none over 5 GiB, at most 10,000 of them."""
    return (
        callable(getattr(fs, "merge", None))
        and len(sizes) <= _MAX_PARTS
        and all(size >= _MIN_PART for size in sizes[:-1])
        and all(size <= _MAX_PART for size in sizes)
    )


def _file_system(url: str, storage_options: Mapping[str, Any]) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as exc:
        raise MissingDependencyError(
            f"artifacts at {url} need fsspec: pip install 'aiplane[s3]'"
        ) from exc
    try:
        fs, path = fsspec.url_to_fs(url, **storage_options)
    except ImportError as exc:  # fsspec is there, the URL's file system package is not
        raise MissingDependencyError(
            f"artifacts at {url} need the package for that file system ({exc}); "
            "for s3:// it is s3fs: pip install 'aiplane[s3]'"
        ) from exc
    return fs, str(path).rstrip("/")


class FsspecBlobStore:
    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self._url = url
        self.fs, self._root = _file_system(url, storage_options or {})
        self._running: dict[str, RunningDigest] = {}

    @property
    def url(self) -> str:
        return self._url

    def _blob(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self._root}/blobs/sha256/{sha256[:2]}/{sha256}"

    def _upload(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self._root}/uploads/{sha256}"

    def _info(self, path: str) -> dict[str, Any] | None:
        # Listings are cached by some file systems (s3fs): another writer's blob must show.
        self.fs.invalidate_cache(path)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        return cast("dict[str, Any]", info) if info.get("type") == "file" else None

    def has(self, sha256: str) -> bool:
        return self._info(self._blob(sha256)) is not None

    def size(self, sha256: str) -> int | None:
        info = self._info(self._blob(sha256))
        return None if info is None else int(info["size"])

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO:
        path = self._blob(sha256)
        if self._info(path) is None:
            raise NotFoundError(f"blob {sha256} not found", [missing_blob(sha256)])
        stream = cast("BinaryIO", self.fs.open(path, "rb", block_size=CHUNK_SIZE))
        stream.seek(offset)
        return stream

    def _parts(self, sha256: str) -> list[tuple[str, int]]:
        """The parts that follow each other from byte 0, as (path, size); a part after a gap
        (a crash between two appends cannot leave one, but a hand can) is ignored."""
        folder = self._upload(sha256)
        self.fs.invalidate_cache(folder)
        try:
            listing = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        by_offset: dict[int, tuple[str, int]] = {}
        for item in listing:
            name = str(item["name"]).rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(_PART) and name[len(_PART) :].isdigit():
                by_offset[int(name[len(_PART) :])] = (str(item["name"]), int(item["size"]))
        parts, at = [], 0
        while at in by_offset:
            path, size = by_offset[at]
            parts.append((path, size))
            if size == 0:
                break
            at += size
        return parts

    def received(self, sha256: str) -> int:
        return sum(size for _, size in self._parts(sha256))

    def append(self, sha256: str, chunks: Iterable[bytes], offset: int) -> int:
        have = self.received(sha256)
        if offset != have:
            raise offset_conflict(sha256, offset, have)
        running: RunningDigest | None = self._running.pop(sha256, None)
        if running is None or running.at != have:
            # Parts left by another process: their digest is read back at commit, not here,
            # where gigabytes coming back would stall the client resuming the upload.
            running = RunningDigest(hashlib.sha256(), 0) if have == 0 else None
        written = have
        folder = self._upload(sha256)
        self.fs.makedirs(folder, exist_ok=True)  # a disk needs the folder; S3 has none
        try:
            # On an exception in ``chunks`` the file object is closed, so what was written is
            # kept as this part and counted by ``received``.
            with self.fs.open(f"{folder}/{_PART}{offset:020d}", "wb") as sink:
                for chunk in chunks:
                    sink.write(chunk)
                    if running is not None:
                        running.hasher.update(chunk)
                    written += len(chunk)
        finally:
            if running is not None:
                running.at = written
                self._running[sha256] = running
        return written

    def _catch_up(self, sha256: str) -> RunningDigest:
        """The digest of the parts received, read back once (the upload began elsewhere)."""
        hasher, at = hashlib.sha256(), 0
        for path, size in self._parts(sha256):
            with self.fs.open(path, "rb", block_size=CHUNK_SIZE) as stream:
                hash_stream(stream, hasher)
            at += size
        return RunningDigest(hasher, at)

    def commit(self, sha256: str) -> None:
        parts = self._parts(sha256)
        if not parts:
            raise no_upload(sha256)
        have = sum(size for _, size in parts)
        running = self._running.pop(sha256, None)
        if running is None or running.at != have:
            running = self._catch_up(sha256)
        found = running.hasher.hexdigest()
        if found != sha256:
            self.abort(sha256)
            raise digest_mismatch(sha256, found)
        target = self._blob(sha256)
        if self._info(target) is not None:  # stored already: dedupe, never rewrite
            self.abort(sha256)
            return
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self._compose(sha256, parts, target)
        self.abort(sha256)

    def _compose(self, sha256: str, parts: list[tuple[str, int]], target: str) -> None:
        """The parts, in order, as the object ``target``, which appears whole or not at all."""
        paths = [path for path, _ in parts]
        if len(paths) == 1:  # sent in one append: the part is the blob
            self.fs.mv(paths[0], target)
        elif _server_side_merge(self.fs, [size for _, size in parts]):
            # S3 copies the parts into one multipart object itself: no byte comes back to us,
            # and the object is visible only once the upload is completed.
            self.fs.merge(target, paths)
        else:
            assembled = f"{self._upload(sha256)}/assembled"
            with self.fs.open(assembled, "wb") as sink:
                for path in paths:
                    with self.fs.open(path, "rb", block_size=CHUNK_SIZE) as source:
                        while chunk := source.read(CHUNK_SIZE):
                            sink.write(chunk)
            self.fs.mv(assembled, target)

    def abort(self, sha256: str) -> None:
        self._running.pop(sha256, None)
        folder = self._upload(sha256)
        self.fs.invalidate_cache(folder)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(folder, recursive=True)

    def verify(self, sha256: str) -> str:
        with self.open_read(sha256) as stream:
            return hash_stream(stream).hexdigest()

    def delete(self, sha256: str) -> None:
        path = self._blob(sha256)
        if self._info(path) is not None:
            self.fs.rm(path)
            self.fs.invalidate_cache(path)


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: BlobStore = FsspecBlobStore("memory://")
