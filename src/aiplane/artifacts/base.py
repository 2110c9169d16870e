"""The blob store protocol: a file's bytes stored once, under their sha256.

A blob is written through a resumable upload keyed by the digest it is expected to have:
``received`` says how many bytes a previous, interrupted attempt left, ``append`` continues
from exactly there, and ``commit`` checks the digest before the blob becomes visible, so a
store never holds a blob under a name its bytes do not hash to (short of tampering, which
``verify`` finds). Reads are streams: a 5 GB blob never sits in memory. Every member passes
``tests/artifacts/test_contract.py``; there is no capability protocol, since every member can
do all of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO, Protocol

from aiplane.core.errors import ConflictError, IntegrityError, NotFoundError, Problem, SpecError

# Big enough that the per-call overhead vanishes next to hashing, small enough to stream.
CHUNK_SIZE = 4 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")


def check_sha256(sha256: str) -> str:
    """The digest itself, or SpecError: it names files and objects, so nothing else gets in."""
    if len(sha256) != 64 or not _HEX.issuperset(sha256):
        raise SpecError(
            "invalid blob digest", [Problem("sha256", "invalid", repr(sha256), "64 lower-case hex")]
        )
    return sha256


def offset_conflict(sha256: str, offset: int, received: int) -> ConflictError:
    return ConflictError(
        f"upload of blob {sha256} is at byte {received}, not {offset}",
        [Problem("offset", "not where the upload stands", str(offset), f"{received} (received)")],
    )


def missing_blob(sha256: str) -> Problem:
    return Problem(f"blob {sha256}", "not in the store")


class BlobStore(Protocol):
    @property
    def url(self) -> str:
        """Where the blobs are: a local folder's file URL or the fsspec URL."""
        ...

    def has(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int | None:
        """The stored blob's size in bytes; None when it is not stored."""
        ...

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO:
        """A stream of the blob from ``offset``; raises NotFoundError."""
        ...

    def received(self, sha256: str) -> int:
        """Bytes of a partial upload of this blob already kept; 0 for none."""
        ...

    def append(self, sha256: str, chunks: Iterable[bytes], offset: int) -> int:
        """Write ``chunks`` at ``offset``, which must equal ``received`` (else ConflictError
        naming both); returns the new received count. Bytes written before an exception in
        ``chunks`` stay received."""
        ...

    def commit(self, sha256: str) -> None:
        """Check the partial upload's digest and make it the blob, atomically. A mismatch
        discards the partial and raises IntegrityError naming the expected and found digests.
        A blob already stored is not rewritten."""
        ...

    def abort(self, sha256: str) -> None:
        """Discard the partial upload, if any."""
        ...

    def verify(self, sha256: str) -> str:
        """Re-hash the stored bytes (streaming) and return the sha256 found; NotFoundError."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the blob (garbage collection, tests of tampering); absent is not an error."""
        ...


def digest_mismatch(sha256: str, found: str) -> IntegrityError:
    return IntegrityError(
        f"upload of blob {sha256} does not match its digest",
        [Problem(f"blob {sha256}", "digest differs", given=found, allowed=sha256)],
    )


def no_upload(sha256: str) -> NotFoundError:
    return NotFoundError(
        f"no upload of blob {sha256} to commit", [Problem(f"upload {sha256}", "none received")]
    )
