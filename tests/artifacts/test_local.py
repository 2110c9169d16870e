"""What the local folder store adds to the contract: its layout, one writer per upload, and a
stored blob left untouched by a second upload of the same bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from aiplane.artifacts import local
from aiplane.artifacts.local import LocalBlobStore
from aiplane.artifacts.streams import hash_stream
from aiplane.core.errors import ConflictError
from tests.artifacts.blobs import put, sha

DATA = b"weights" * 1000


def test_blobs_live_under_their_digest_and_partials_apart(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = sha(DATA)
    store.append(digest, [DATA[:10]], 0)
    assert (tmp_path / "uploads" / f"{digest}.partial").stat().st_size == 10
    store.append(digest, [DATA[10:]], 10)
    store.commit(digest)
    assert (tmp_path / "blobs" / "sha256" / digest[:2] / digest).read_bytes() == DATA
    assert list((tmp_path / "uploads").iterdir()) == []
    assert store.url == tmp_path.resolve().as_uri()


def test_a_second_writer_of_the_same_blob_is_refused(tmp_path: Path) -> None:
    first, second = LocalBlobStore(tmp_path), LocalBlobStore(tmp_path)
    digest = sha(DATA)
    seen: list[BaseException] = []

    def interleaving() -> Iterator[bytes]:
        yield DATA[:100]
        for attempt in (
            lambda: second.append(digest, [DATA[100:]], 100),
            lambda: second.commit(digest),
        ):
            with pytest.raises(ConflictError) as caught:
                attempt()
            seen.append(caught.value)
        yield DATA[100:]

    first.append(digest, interleaving(), 0)
    assert len(seen) == 2 and "under way" in str(seen[0])
    second.commit(digest)  # the first writer is done: its upload is whole
    assert second.verify(digest) == digest


def test_the_same_bytes_again_leave_the_stored_file_alone(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = put(store, DATA)
    before = store.blob_path(digest).stat()
    put(LocalBlobStore(tmp_path), DATA)
    after = store.blob_path(digest).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("restarted", [False, True])
def test_commit_rereads_the_partial_only_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restarted: bool
) -> None:
    store = LocalBlobStore(tmp_path)
    digest = sha(DATA)
    store.append(digest, [DATA[:100]], 0)
    store.append(digest, [DATA[100:]], 100)
    if restarted:
        store = LocalBlobStore(tmp_path)
    hashed: list[int] = []

    def counting(stream: BinaryIO, *args: Any, **kwargs: Any) -> Any:
        hashed.append(1)
        return hash_stream(stream, *args, **kwargs)

    monkeypatch.setattr(local, "hash_stream", counting)
    store.commit(digest)
    assert len(hashed) == (1 if restarted else 0)
    assert store.verify(digest) == digest
