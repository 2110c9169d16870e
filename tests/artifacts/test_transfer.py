"""Directories to and from blob stores: scan, upload only what is lacking, resumable verified
downloads, and every kind of difference named."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest

from aiplane.artifacts.base import CHUNK_SIZE, BlobStore
from aiplane.artifacts.local import LocalBlobStore
from aiplane.artifacts.memory import MemoryBlobStore
from aiplane.artifacts.transfer import (
    download,
    scan,
    upload_directory,
    verify_directory,
    verify_stored,
)
from aiplane.core.errors import IntegrityError, SpecError
from aiplane.core.registry.manifest import Difference, FileDifference
from tests.artifacts.blobs import put, sha, tamper

BIG = CHUNK_SIZE * 2 + 12345  # more than one chunk, not a multiple of it


def big_bytes() -> bytes:
    return os.urandom(BIG)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "model.bin": big_bytes(),
        "config.json": b'{"layers": 2}',
        "tokenizer/vocab.txt": b"a\nb\nc\n",
        "tokenizer/copy-of-config.json": b'{"layers": 2}',  # the same bytes: one blob
        "empty": b"",
    }
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return files


@dataclass
class Recording:
    """A store that records the calls made to it, and can cut a read short."""

    inner: BlobStore
    appends: list[tuple[str, int]] = field(default_factory=list)
    reads: list[tuple[str, int]] = field(default_factory=list)
    cut_reads_after: int | None = None

    @property
    def url(self) -> str:
        return self.inner.url

    def has(self, sha256: str) -> bool:
        return self.inner.has(sha256)

    def size(self, sha256: str) -> int | None:
        return self.inner.size(sha256)

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO:
        self.reads.append((sha256, offset))
        stream = self.inner.open_read(sha256, offset)
        if self.cut_reads_after is None:
            return stream
        return _Cut(stream, self.cut_reads_after)  # type: ignore[return-value]

    def received(self, sha256: str) -> int:
        return self.inner.received(sha256)

    def append(self, sha256: str, chunks: Iterable[bytes], offset: int) -> int:
        self.appends.append((sha256, offset))
        return self.inner.append(sha256, chunks, offset)

    def commit(self, sha256: str) -> None:
        self.inner.commit(sha256)

    def abort(self, sha256: str) -> None:
        self.inner.abort(sha256)

    def verify(self, sha256: str) -> str:
        return self.inner.verify(sha256)

    def delete(self, sha256: str) -> None:
        self.inner.delete(sha256)


class _Cut:
    """A stream that fails after ``limit`` bytes, as a dropped connection does."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self.inner, self.left = inner, limit

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("connection dropped")
        data = self.inner.read(min(n, self.left) if n >= 0 else self.left)
        self.left -= len(data)
        return data

    def __enter__(self) -> _Cut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


def test_scan_names_every_file_by_relative_posix_path(tmp_path: Path) -> None:
    files = make_tree(tmp_path)
    done: list[int] = []
    manifest = scan(tmp_path, done.append)
    assert [e.path for e in manifest.entries] == sorted(files)
    for entry in manifest.entries:
        assert (entry.sha256, entry.size) == (sha(files[entry.path]), len(files[entry.path]))
    assert done == sorted(done) and done[-1] == manifest.size


def test_scan_refuses_symbolic_links_and_names_them(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "tokenizer" / "link").symlink_to(tmp_path / "config.json")
    (tmp_path / "outside").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(SpecError) as caught:
        scan(tmp_path)
    assert {p.location for p in caught.value.problems} == {"tokenizer/link", "outside"}


def test_upload_and_download_round_trip(make_store: Callable[[], BlobStore], tmp_path: Path):
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    (source / "a.txt").write_bytes(b"alpha")
    (source / "d").mkdir()
    (source / "d" / "b.txt").write_bytes(b"beta" * 1000)
    store = make_store()
    manifest = upload_directory(store, source)
    assert verify_stored(store, manifest) == []
    download(make_store(), manifest, dest)
    assert verify_directory(manifest, dest) == []
    assert (dest / "d" / "b.txt").read_bytes() == b"beta" * 1000


def test_a_file_larger_than_the_chunk_round_trips(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    store = LocalBlobStore(tmp_path / "store")
    done: list[int] = []
    manifest = upload_directory(store, tmp_path / "src", progress=done.append)
    assert done[-1] == manifest.size
    download(store, manifest, tmp_path / "dest")
    assert (tmp_path / "dest" / "model.bin").read_bytes() == files["model.bin"]
    assert not list((tmp_path / "dest").rglob("*.partial"))


def test_only_the_blobs_the_store_lacks_are_sent(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    store = Recording(MemoryBlobStore())
    put(store.inner, files["config.json"])
    store.appends.clear()
    manifest = upload_directory(store, tmp_path / "src")
    sent = {digest for digest, _ in store.appends}
    # config.json is stored, its copy is the same blob: neither is sent again.
    assert sent == {sha(files[p]) for p in ("model.bin", "tokenizer/vocab.txt", "empty")}
    store.appends.clear()
    upload_directory(store, tmp_path / "src", manifest)
    assert store.appends == []


def test_an_interrupted_upload_resumes_from_received(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    store = Recording(LocalBlobStore(tmp_path / "store"))
    digest = sha(files["model.bin"])
    store.inner.append(digest, [files["model.bin"][: CHUNK_SIZE + 5]], 0)  # then it broke
    restarted = Recording(LocalBlobStore(tmp_path / "store"))
    manifest = upload_directory(restarted, tmp_path / "src")
    assert (digest, CHUNK_SIZE + 5) in restarted.appends
    assert verify_stored(restarted, manifest) == []


def test_a_file_changed_since_its_scan_is_named_on_upload(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    manifest = scan(tmp_path / "src")
    (tmp_path / "src" / "tokenizer" / "vocab.txt").write_bytes(b"z\n")
    store = MemoryBlobStore()
    with pytest.raises(IntegrityError) as caught:
        upload_directory(store, tmp_path / "src", manifest)
    assert [p.location for p in caught.value.problems] == ["tokenizer/vocab.txt"]
    assert not store.has(sha(b"a\nb\nc\n"))


def test_a_file_removed_since_its_scan_is_named_on_upload(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    manifest = scan(tmp_path / "src")
    (tmp_path / "src" / "config.json").unlink()
    (tmp_path / "src" / "tokenizer" / "copy-of-config.json").unlink()
    with pytest.raises(IntegrityError) as caught:
        upload_directory(MemoryBlobStore(), tmp_path / "src", manifest)
    assert {p.location for p in caught.value.problems} == {
        "config.json",
        "tokenizer/copy-of-config.json",
    }


def test_a_blob_the_store_lacks_is_named_by_its_file_on_download(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    store = MemoryBlobStore()
    manifest = upload_directory(store, tmp_path / "src")
    store.delete(sha(files["tokenizer/vocab.txt"]))
    with pytest.raises(IntegrityError) as caught:
        download(store, manifest, tmp_path / "dest")
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("tokenizer/vocab.txt", "not in the store")
    ]
    assert (tmp_path / "dest" / "model.bin").read_bytes() == files["model.bin"]


def test_an_interrupted_download_resumes_mid_file(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    inner = LocalBlobStore(tmp_path / "store")
    manifest = upload_directory(inner, tmp_path / "src")
    digest = sha(files["model.bin"])
    cut = Recording(inner, cut_reads_after=CHUNK_SIZE + 777)
    with pytest.raises(ConnectionResetError):
        download(cut, manifest, tmp_path / "dest")
    partial = tmp_path / "dest" / "model.bin.partial"
    assert partial.stat().st_size == CHUNK_SIZE + 777
    assert not (tmp_path / "dest" / "model.bin").exists()
    again = Recording(inner)
    download(again, manifest, tmp_path / "dest")
    assert (digest, CHUNK_SIZE + 777) in again.reads
    assert (tmp_path / "dest" / "model.bin").read_bytes() == files["model.bin"]
    assert not partial.exists()


def test_files_already_there_are_not_fetched_again(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store = Recording(MemoryBlobStore())
    manifest = upload_directory(store, tmp_path / "src")
    download(store, manifest, tmp_path / "dest")
    (tmp_path / "dest" / "config.json").write_bytes(b"edited")
    store.reads.clear()
    download(store, manifest, tmp_path / "dest")
    assert store.reads == [(sha(b'{"layers": 2}'), 0)]
    assert (tmp_path / "dest" / "config.json").read_bytes() == b'{"layers": 2}'


def test_a_blob_that_arrives_with_other_bytes_is_refused_and_named(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    store = MemoryBlobStore()
    manifest = upload_directory(store, tmp_path / "src")
    tamper(store, sha(files["tokenizer/vocab.txt"]), b"a\nb\nX\n")
    with pytest.raises(IntegrityError) as caught:
        download(store, manifest, tmp_path / "dest")
    (problem,) = caught.value.problems
    assert problem.location == "tokenizer/vocab.txt"
    assert (problem.allowed, problem.given) == (sha(b"a\nb\nc\n"), sha(b"a\nb\nX\n"))
    assert not (tmp_path / "dest" / "tokenizer" / "vocab.txt").exists()
    assert not (tmp_path / "dest" / "tokenizer" / "vocab.txt.partial").exists()
    assert (tmp_path / "dest" / "model.bin").read_bytes() == files["model.bin"]


def test_verify_stored_names_missing_and_changed_blobs(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    store = MemoryBlobStore()
    manifest = upload_directory(store, tmp_path / "src")
    store.delete(sha(files["model.bin"]))
    tamper(store, sha(files["tokenizer/vocab.txt"]), b"other")
    assert verify_stored(store, manifest) == [
        FileDifference("model.bin", Difference.MISSING, sha(files["model.bin"])),
        FileDifference(
            "tokenizer/vocab.txt",
            Difference.CHANGED,
            sha(files["tokenizer/vocab.txt"]),
            sha(b"other"),
        ),
    ]


def test_verify_directory_names_every_kind_of_difference(tmp_path: Path) -> None:
    root = tmp_path / "model"
    files = make_tree(root)
    (root / "w1").write_bytes(b"first weights")
    (root / "w2").write_bytes(b"second weights")
    manifest = scan(root)
    assert verify_directory(manifest, root) == []
    flipped = bytearray(files["model.bin"])
    flipped[BIG // 2] ^= 0x10
    (root / "model.bin").write_bytes(bytes(flipped))  # a flipped bit
    (root / "w1").write_bytes(b"second weights")  # two files swapped
    (root / "w2").write_bytes(b"first weights")
    (root / "config.json").unlink()  # removed
    (root / "extra.py").write_bytes(b"import os")  # added
    found = {d.path: d for d in verify_directory(manifest, root)}
    assert {p: d.kind for p, d in found.items()} == {
        "config.json": Difference.MISSING,
        "extra.py": Difference.ADDED,
        "model.bin": Difference.CHANGED,
        "w1": Difference.CHANGED,
        "w2": Difference.CHANGED,
    }
    assert found["model.bin"].found == sha(bytes(flipped))
    assert found["w1"].found == sha(b"second weights")
