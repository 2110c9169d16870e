"""Files streamed out of the artifact store, with ``Range: bytes=N-`` to resume."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from fastapi.responses import StreamingResponse

from aiplane.core.errors import Problem, SpecError
from aiplane.wire.registry import SHA256_HEADER

READ_BYTES = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d+)-$")

_BYTES: dict[str, Any] = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
}
# What a file download answers: the bytes, or from a Range's offset.
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": _BYTES, "description": f"the file's bytes; {SHA256_HEADER}: its sha256"},
    206: {"content": _BYTES, "description": "the bytes from the Range's offset on"},
}
# (size, sha256, a stream from the offset) of the file asked for.
Opener = Callable[[int], tuple[int, str, BinaryIO]]


def range_offset(header: str | None) -> int:
    """The offset an open-ended ``Range`` asks for (0 without one)."""
    if header is None:
        return 0
    match = _RANGE.match(header.strip())
    if match is None:
        raise SpecError(
            "invalid range",
            [
                Problem(
                    "Range", "unsupported range", repr(header[:80]), "bytes=N- (one, open-ended)"
                )
            ],
        )
    return int(match.group(1))


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(READ_BYTES):
            yield chunk


def file_response(open_from: Opener, range_header: str | None) -> StreamingResponse:
    offset = range_offset(range_header)
    size, sha256, stream = open_from(offset)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(size - offset),
        SHA256_HEADER: sha256,
    }
    status = 200
    if range_header is not None:
        status = 206
        headers["Content-Range"] = f"bytes {offset}-{max(size - 1, offset)}/{size}"
    return StreamingResponse(
        _chunks(stream), status_code=status, headers=headers, media_type="application/octet-stream"
    )
