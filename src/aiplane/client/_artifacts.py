"""Files to and from the registry: a folder hashed into a manifest, its missing blobs
uploaded in resumable pieces, and an artifact downloaded file by file, each checked against
its digest on arrival.

Everything streams in chunks: a 5 GB file is read and sent a chunk at a time, and an
interrupted transfer resumes where it stopped (an upload from what the server says it holds,
a download from the ``.partial`` file it left).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from aiplane.client._http import Http
from aiplane.discovery import UnreachableError
from aiplane.wire.registry import FileEntry, ManifestBody, ManifestOut, MissingOut, UploadOut

CHUNK_BYTES = 8 * 1024 * 1024
PARTIAL_SUFFIX = ".partial"
# Tries of one upload or download after the connection broke: each resumes.
TRIES = 5

# Told the bytes done so far of the whole transfer (a progress bar's update).
Progress = Callable[[int], None]


class TransferError(Exception):
    """A file could not be read, or arrived other than its digest says."""


def _read(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in _read(f):
            digest.update(chunk)
    return digest.hexdigest()


def files_of(directory: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, file) of every regular file under ``directory``, by path.
    Symbolic links are refused: what a link points to may change after it was hashed."""
    if not directory.is_dir():
        raise TransferError(f"{directory}: not a directory")
    found = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in names:
            path = Path(root) / name
            if path.is_symlink():
                raise TransferError(f"{path}: a symbolic link (copy the file it points to)")
            if path.is_file():
                found.append((path.relative_to(directory).as_posix(), path))
    return sorted(found)


def scan(directory: Path, progress: Progress | None = None) -> ManifestBody:
    """The manifest of the files under ``directory``: each hashed, streaming."""
    entries = []
    done = 0
    for rel, path in files_of(directory):
        entries.append(FileEntry(path=rel, sha256=file_sha256(path), size=path.stat().st_size))
        done += entries[-1].size
        if progress is not None:
            progress(done)
    return ManifestBody(files=entries)


class Transfers:
    """The blob upload protocol (``/blobs``) and file downloads, over one client."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def missing(self, digests: list[str]) -> list[str]:
        body = {"digests": digests}
        return self._http.call(MissingOut, "POST", "/blobs:missing", body=body).missing

    def upload_file(self, path: Path, sha256: str, progress: Progress | None = None) -> None:
        """Send one file as the blob ``sha256``, resuming after a broken connection."""
        for attempt in range(TRIES):
            state = self._http.call(UploadOut, "GET", f"/blobs/{sha256}/upload")
            if state.complete:
                return
            try:
                with open(path, "rb") as f:
                    f.seek(state.received)
                    self._http.put_bytes(
                        UploadOut,
                        f"/blobs/{sha256}",
                        _counted(_read(f), state.received, progress),
                        params={"offset": state.received},
                    )
                break
            except UnreachableError:
                if attempt == TRIES - 1:
                    raise
        self._http.call(UploadOut, "POST", f"/blobs/{sha256}:commit")

    def upload_directory(
        self, directory: Path, progress: Progress | None = None, hashing: Progress | None = None
    ) -> ManifestBody:
        """Hash the folder (``hashing`` told the bytes hashed), then send the blobs the server
        lacks (``progress`` told the bytes done); the manifest to register."""
        manifest = scan(directory, hashing)
        paths = dict(files_of(directory))
        missing = set(self.missing(sorted({f.sha256 for f in manifest.files})))
        done = 0
        for entry in manifest.files:
            if entry.sha256 in missing:
                self.upload_file(paths[entry.path], entry.sha256, _offset(progress, done))
                missing.discard(entry.sha256)
            done += entry.size
            if progress is not None:
                progress(done)
        return manifest

    def download(
        self, files_path: str, manifest: ManifestOut, dest: Path, progress: Progress | None = None
    ) -> None:
        """Every file of ``manifest`` from ``{files_path}/{path}`` into ``dest``, each
        checked; a file there already with its digest is kept."""
        done = 0
        for entry in manifest.files:
            target = dest / entry.path
            if not (
                target.is_file()
                and target.stat().st_size == entry.size
                and file_sha256(target) == entry.sha256
            ):
                self._download_file(f"{files_path}/{entry.path}", entry, target)
            done += entry.size
            if progress is not None:
                progress(done)

    def _download_file(self, path: str, entry: FileEntry, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        for attempt in range(TRIES):
            offset = partial.stat().st_size if partial.exists() else 0
            if offset > entry.size:
                partial.unlink()
                offset = 0
            try:
                with open(partial, "ab") as sink:
                    self._http.stream_to(path, sink, offset)
                break
            except UnreachableError:
                if attempt == TRIES - 1:
                    raise
        found = file_sha256(partial)
        if found != entry.sha256:
            partial.unlink()
            raise TransferError(
                f"{entry.path}: arrived with sha256 {found}, registered {entry.sha256}"
            )
        partial.replace(target)


def _offset(progress: Progress | None, base: int) -> Progress | None:
    """``progress`` told the whole transfer's bytes, from one file's."""
    if progress is None:
        return None
    told = progress
    return lambda n: told(base + n)


def _counted(chunks: Iterator[bytes], start: int, progress: Progress | None) -> Iterator[bytes]:
    sent = start
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        if progress is not None:
            progress(sent)
