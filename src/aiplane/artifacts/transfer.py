"""Directories to and from a blob store, over any :class:`BlobStore`.

Everything streams in chunks and is checked against its digest: ``scan`` hashes each file
once; ``upload_directory`` sends only the blobs the store lacks, resuming a partial one from
``received``; ``download`` writes each file through ``<path>.partial``, resumes an interrupted
one, and renames it into place only when its digest is right. ``progress`` is called with the
bytes done so far, summed over the whole call, so a bar can show it as it is.

Symbolic links are refused by ``scan``: following one could pull files from outside the
directory into an artifact (or loop), and storing the link itself would make the artifact
mean something else on every machine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from aiplane.artifacts.base import BlobStore
from aiplane.artifacts.streams import Progress, chunks_of, hash_stream
from aiplane.core.errors import IntegrityError, NotFoundError, Problem, SpecError
from aiplane.core.registry.manifest import (
    Difference,
    FileDifference,
    Manifest,
    ManifestEntry,
    differences,
)

PARTIAL_SUFFIX = ".partial"


class _Counter:
    """Bytes done over a whole call, reported to ``progress`` as they grow."""

    def __init__(self, progress: Progress | None) -> None:
        self.done = 0
        self._progress = progress

    def add(self, n: int) -> None:
        self.done += n
        if self._progress is not None and n:
            self._progress(self.done)


def _files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, file) for every regular file under ``directory``, sorted."""
    problems = []
    found = []
    for here, dirs, names in os.walk(directory):
        dirs.sort()
        base = Path(here)
        for name in sorted([*dirs, *names]):
            full = base / name
            relative = full.relative_to(directory).as_posix()
            if full.is_symlink():
                problems.append(Problem(relative, "symbolic link", allowed="regular files"))
            elif name in names and full.is_file():
                found.append((relative, full))
            elif name in names:
                problems.append(Problem(relative, "not a regular file", allowed="regular files"))
    if problems:
        raise SpecError(f"{directory} holds what an artifact cannot", problems)
    yield from sorted(found)


def _hash_file(path: Path, counter: _Counter) -> tuple[str, int]:
    with path.open("rb") as stream:
        before = counter.done
        digest = hash_stream(stream, on_chunk=counter.add).hexdigest()
        return digest, counter.done - before


def scan(directory: Path, progress: Progress | None = None) -> Manifest:
    """The manifest of every file under ``directory`` (symbolic links refused)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SpecError(
            f"{directory} is not a directory", [Problem(str(directory), "not a directory")]
        )
    counter = _Counter(progress)
    entries = []
    for relative, full in _files(directory):
        digest, size = _hash_file(full, counter)
        entries.append(ManifestEntry(relative, digest, size))
    return Manifest.of(entries)


def _counted(stream_chunks: Iterator[bytes], counter: _Counter) -> Iterator[bytes]:
    for chunk in stream_chunks:
        yield chunk
        counter.add(len(chunk))


def upload_directory(
    store: BlobStore,
    directory: Path,
    manifest: Manifest | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Send the blobs of ``directory`` that ``store`` lacks; returns the manifest sent.

    Given a ``manifest`` (from an earlier ``scan``), the files are not hashed twice: the
    store's commit checks each one, and a file changed since the scan is an IntegrityError
    naming it.
    """
    directory = Path(directory)
    if manifest is None:
        manifest = scan(directory)
    counter = _Counter(progress)
    problems = []
    sent: set[str] = set()
    for entry in manifest.entries:
        if entry.sha256 in sent or store.has(entry.sha256):
            sent.add(entry.sha256)
            counter.add(entry.size)
            continue
        offset = store.received(entry.sha256)
        if offset > entry.size:  # not a prefix of this file: start again
            store.abort(entry.sha256)
            offset = 0
        counter.add(offset)
        try:
            stream = (directory / entry.path).open("rb")
        except FileNotFoundError:
            problems.append(Problem(entry.path, "removed since it was scanned"))
            continue
        with stream:
            stream.seek(offset)
            store.append(entry.sha256, _counted(chunks_of(stream), counter), offset)
        try:
            store.commit(entry.sha256)
        except IntegrityError as exc:
            found = exc.problems[0].given if exc.problems else None
            problems.append(
                Problem(entry.path, "changed since it was scanned", found, entry.sha256)
            )
            continue
        sent.add(entry.sha256)
    if problems:
        raise IntegrityError("files differ from the manifest being uploaded", problems)
    return manifest


def _resume_partial(partial: Path, size: int) -> tuple[hashlib._Hash, int]:
    """The digest of what an interrupted download left, and its length (0 if unusable)."""
    hasher = hashlib.sha256()
    try:
        have = partial.stat().st_size
    except FileNotFoundError:
        return hasher, 0
    if have > size:
        partial.unlink()
        return hasher, 0
    with partial.open("rb") as stream:
        hash_stream(stream, hasher)
    return hasher, have


def _fetch(store: BlobStore, entry: ManifestEntry, target: Path, counter: _Counter) -> str:
    """Stream one blob into ``target`` through its ``.partial``; the sha256 that arrived."""
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    hasher, have = _resume_partial(partial, entry.size)
    counter.add(have)
    with store.open_read(entry.sha256, have) as source, partial.open("ab") as sink:
        for chunk in chunks_of(source):
            sink.write(chunk)
            hasher.update(chunk)
            counter.add(len(chunk))
        sink.flush()
        os.fsync(sink.fileno())
    found = hasher.hexdigest()
    if found != entry.sha256:
        partial.unlink()
        return found
    os.replace(partial, target)
    return found


def _already_there(target: Path, entry: ManifestEntry) -> bool:
    try:
        if target.stat().st_size != entry.size:
            return False
    except FileNotFoundError:
        return False
    with target.open("rb") as stream:
        return hash_stream(stream).hexdigest() == entry.sha256


def download(
    store: BlobStore, manifest: Manifest, dest: Path, progress: Progress | None = None
) -> None:
    """Every file of ``manifest`` into ``dest/<path>``, each verified on arrival.

    A file already there with the right digest is kept; one that arrives with other bytes, or
    whose blob the store lacks, is named in the IntegrityError raised after every other file
    was fetched (what arrived wrong is discarded).
    """
    dest = Path(dest)
    counter = _Counter(progress)
    problems = []
    for entry in manifest.entries:
        target = dest / entry.path
        if _already_there(target, entry):
            counter.add(entry.size)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            found = _fetch(store, entry, target, counter)
        except NotFoundError:
            problems.append(Problem(entry.path, "not in the store", allowed=entry.sha256))
            continue
        if found != entry.sha256:
            problems.append(Problem(entry.path, "arrived with other bytes", found, entry.sha256))
    if problems:
        raise IntegrityError("files could not be downloaded as registered", problems)


def verify_stored(store: BlobStore, manifest: Manifest) -> list[FileDifference]:
    """The files whose blobs are missing from ``store`` or hash to something else now."""
    found: dict[str, str | None] = {}
    out = []
    for entry in manifest.entries:
        if entry.sha256 not in found:
            found[entry.sha256] = store.verify(entry.sha256) if store.has(entry.sha256) else None
        digest = found[entry.sha256]
        if digest is None:
            out.append(FileDifference(entry.path, Difference.MISSING, entry.sha256))
        elif digest != entry.sha256:
            out.append(FileDifference(entry.path, Difference.CHANGED, entry.sha256, digest))
    return out


def verify_directory(manifest: Manifest, directory: Path) -> list[FileDifference]:
    """Every file of ``directory`` that departs from ``manifest``: changed, missing, added."""
    return differences(manifest, scan(directory))
