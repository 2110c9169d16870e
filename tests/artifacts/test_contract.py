"""The contract every blob store keeps: memory, a local folder and S3 (on moto)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest

from aiplane.artifacts.base import BlobStore
from aiplane.core.errors import ConflictError, IntegrityError, NotFoundError, SpecError
from tests.artifacts.blobs import put, sha, tamper

DATA = bytes(range(256)) * 5  # 1280 bytes: many 7-byte chunks


def test_put_has_size_and_read_from_offsets(store: BlobStore) -> None:
    digest = sha(DATA)
    assert not store.has(digest)
    assert store.size(digest) is None
    assert put(store, DATA) == digest
    assert store.has(digest)
    assert store.size(digest) == len(DATA)
    for offset in (0, 1, 700, len(DATA) - 1, len(DATA)):
        with store.open_read(digest, offset) as stream:
            assert stream.read() == DATA[offset:]
    with store.open_read(digest, 10) as stream:
        assert stream.read(5) == DATA[10:15]
    assert store.received(digest) == 0  # the partial is gone once committed


def test_the_empty_blob(store: BlobStore) -> None:
    digest = put(store, b"")
    assert store.size(digest) == 0
    with store.open_read(digest) as stream:
        assert stream.read() == b""
    assert store.verify(digest) == digest


def test_a_missing_blob_is_not_found(store: BlobStore) -> None:
    digest = sha(b"never stored")
    with pytest.raises(NotFoundError) as caught:
        store.open_read(digest)
    assert digest in str(caught.value)
    with pytest.raises(NotFoundError):
        store.verify(digest)
    store.delete(digest)  # absent is not an error


def test_a_digest_that_is_not_sha256_hex_is_refused(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "ab" * 31, "AB" * 32, ""):
        with pytest.raises(SpecError):
            store.has(bad)
        with pytest.raises(SpecError):
            store.append(bad, [b"x"], 0)


def test_resume_after_an_interrupted_append(make_store: Callable[[], BlobStore]) -> None:
    first = make_store()
    digest = sha(DATA)
    assert first.received(digest) == 0
    assert first.append(digest, [DATA[:100], DATA[100:300]], 0) == 300
    # A fresh store instance (a restarted process) sees the partial and continues it.
    second = make_store()
    assert second.received(digest) == 300
    assert second.append(digest, [DATA[300:]], second.received(digest)) == len(DATA)
    second.commit(digest)
    with second.open_read(digest) as stream:
        assert stream.read() == DATA
    assert second.verify(digest) == digest


def test_bytes_before_a_failure_in_the_chunks_stay_received(store: BlobStore) -> None:
    digest = sha(DATA)

    def broken() -> Iterator[bytes]:
        yield DATA[:500]
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.append(digest, broken(), 0)
    assert store.received(digest) == 500
    store.append(digest, [DATA[500:]], 500)
    store.commit(digest)
    assert store.verify(digest) == digest


def test_append_at_another_offset_is_a_conflict_naming_both(store: BlobStore) -> None:
    digest = sha(DATA)
    store.append(digest, [DATA[:100]], 0)
    with pytest.raises(ConflictError) as caught:
        store.append(digest, [DATA[200:]], 200)
    assert "200" in str(caught.value) and "100" in str(caught.value)
    assert store.received(digest) == 100


def test_commit_of_other_bytes_is_refused_and_the_partial_discarded(store: BlobStore) -> None:
    expected = sha(DATA)
    store.append(expected, [DATA[:-1], b"\x00"], 0)
    with pytest.raises(IntegrityError) as caught:
        store.commit(expected)
    found = sha(DATA[:-1] + b"\x00")
    (problem,) = caught.value.problems
    assert (problem.allowed, problem.given) == (expected, found)
    assert expected in str(caught.value) and found in str(caught.value)
    assert not store.has(expected)
    assert store.received(expected) == 0


def test_commit_without_an_upload_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFoundError):
        store.commit(sha(DATA))


def test_abort_discards_the_partial(store: BlobStore) -> None:
    digest = sha(DATA)
    store.append(digest, [DATA[:10]], 0)
    store.abort(digest)
    assert store.received(digest) == 0
    store.abort(digest)  # twice is fine


def test_verify_finds_tampering_with_the_stored_bytes(store: BlobStore) -> None:
    digest = put(store, DATA)
    assert store.verify(digest) == digest
    flipped = bytearray(DATA)
    flipped[123] ^= 0x01
    tamper(store, digest, bytes(flipped))
    assert store.verify(digest) == sha(bytes(flipped))


def test_the_same_bytes_are_stored_once(store: BlobStore) -> None:
    digest = put(store, DATA)
    tamper(store, digest, b"marker")  # so a rewrite would show
    store.append(digest, [DATA], 0)
    store.commit(digest)  # the upload checks out, and the stored blob is left alone
    with store.open_read(digest) as stream:
        assert stream.read() == b"marker"
    assert store.received(digest) == 0


def test_delete_removes_the_blob(store: BlobStore) -> None:
    digest = put(store, DATA)
    store.delete(digest)
    assert not store.has(digest)
    assert store.size(digest) is None


def test_url_says_where(store: BlobStore) -> None:
    assert "://" in store.url


def test_without_fsspec_the_error_names_the_s3_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiplane.artifacts.fsspec import FsspecBlobStore
    from aiplane.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec now raises ImportError
    with pytest.raises(MissingDependencyError) as caught:
        FsspecBlobStore("s3://bucket/prefix")
    assert "aiplane[s3]" in str(caught.value)


def test_without_the_file_systems_package_the_error_names_it() -> None:
    from aiplane.artifacts.fsspec import FsspecBlobStore
    from aiplane.core.errors import MissingDependencyError

    # gcsfs is not installed here (nor in any extra): fsspec knows gs:// but cannot load it.
    with pytest.raises(MissingDependencyError) as caught:
        FsspecBlobStore("gs://bucket/prefix")
    assert "gcsfs" in str(caught.value)
