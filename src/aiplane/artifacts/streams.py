"""Chunked reading and hashing shared by the stores and the transfers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from aiplane.artifacts.base import CHUNK_SIZE

Progress = Callable[[int], None]  # called with the bytes done so far


def chunks_of(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield chunk


def hash_stream(
    stream: BinaryIO,
    hasher: hashlib._Hash | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> hashlib._Hash:
    """Feed the rest of ``stream`` into ``hasher`` (a new sha256 by default); ``on_chunk`` is
    told the length of each chunk hashed.

    One reused buffer and ``readinto``: no allocation per chunk, so hashing runs at the speed
    of the digest itself (OpenSSL releases the GIL for each update).
    """
    digest = hasher if hasher is not None else hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        for chunk in chunks_of(stream):
            digest.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
        return digest
    while True:
        n = readinto(view)
        if not n:
            return digest
        digest.update(view[:n])
        if on_chunk is not None:
            on_chunk(n)


@dataclass
class RunningDigest:
    """The digest of a partial upload so far, valid while ``at`` equals the bytes received: a
    store keeps one per upload under way, so that commit need not read the bytes again."""

    hasher: hashlib._Hash
    at: int
