"""What the fsspec store adds: on S3, parts of 5 MiB or more are composed by the server; the
digest is kept while appending, and the parts read back only by a store that did not see them
all arrive."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from aiplane.artifacts.fsspec import FsspecBlobStore
from tests.artifacts.blobs import sha
from tests.artifacts.conftest import BUCKET

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("sizes", "merged"), [((5 * MIB, 5 * MIB, 123), True), ((MIB, 123), False)]
)
def test_parts_are_composed_on_the_server_when_s3_allows(
    s3_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    sizes: tuple[int, ...],
    merged: bool,
) -> None:
    store = FsspecBlobStore(f"s3://{BUCKET}/{uuid.uuid4().hex}", s3_options)
    data = os.urandom(sum(sizes))
    digest = sha(data)
    calls: list[str] = []
    real_merge = store.fs.merge

    def merge(path: str, paths: list[str]) -> None:
        calls.append(path)
        real_merge(path, paths)

    monkeypatch.setattr(store.fs, "merge", merge)
    at = 0
    for size in sizes:
        at = store.append(digest, [data[at : at + size]], at)
    store.commit(digest)
    assert bool(calls) is merged
    assert store.verify(digest) == digest
    across = sizes[0] - 3  # a read that starts in the first part and runs over the others
    with store.open_read(digest, across) as stream:
        assert stream.read() == data[across:]
    assert store.received(digest) == 0
    store.fs.invalidate_cache()
    assert store.fs.find(store._upload(digest)) == []  # parts (and any assembly) removed


@pytest.mark.parametrize("restarted", [False, True])
def test_commit_reads_the_parts_back_only_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restarted: bool
) -> None:
    url = (tmp_path / "store").as_uri()
    store = FsspecBlobStore(url)
    data = os.urandom(3000)
    digest = sha(data)
    store.append(digest, [data[:1000]], 0)
    if restarted:
        store = FsspecBlobStore(url)
    store.append(digest, [data[1000:]], 1000)
    read_back: list[str] = []
    real = store._catch_up

    def catch_up(sha256: str) -> Any:
        read_back.append(sha256)
        return real(sha256)

    monkeypatch.setattr(store, "_catch_up", catch_up)
    store.commit(digest)
    assert read_back == ([digest] if restarted else [])
    assert store.verify(digest) == digest
