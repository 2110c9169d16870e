"""Redaction that keeps text usable: each span becomes a typed placeholder (``[EMAIL_1]``),
the same value the same placeholder; the originals travel sealed with a key, so only the
caller that holds it can put them back.

PLACEHOLDER (contract only): placeholders without sealing. The signatures are the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiplane.core.guards.types import Span


@dataclass(frozen=True)
class Redacted:
    text: str  # with placeholders in place of the spans
    spans: tuple[Span, ...]  # where the placeholders are in ``text``
    # The originals, encrypted and authenticated with the caller's key (None without a key).
    sealed: str | None = None


def redact(
    text: str, spans: Sequence[Span], key: bytes | None = None, nonce: bytes | None = None
) -> Redacted:
    """``text`` with each span replaced by ``[KIND_N]``; with a ``key`` (and a fresh
    ``nonce`` from the caller: the core draws no randomness), the originals sealed."""
    del key, nonce  # placeholder: sealing lands with the redaction helper
    out: list[str] = []
    placed: list[Span] = []
    numbers: dict[tuple[str, str], int] = {}
    at = 0
    length = 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[at : span.start])
        length += span.start - at
        value = text[span.start : span.end]
        number = numbers.setdefault((span.kind, value), len(numbers) + 1)
        placeholder = f"[{span.kind.upper()}_{number}]"
        out.append(placeholder)
        placed.append(Span(length, length + len(placeholder), span.kind))
        length += len(placeholder)
        at = span.end
    out.append(text[at:])
    return Redacted("".join(out), tuple(placed), None)


def restore(text: str, sealed: str, key: bytes) -> str:
    """``text`` with the placeholders ``sealed`` holds put back (a placeholder the text no
    longer has is skipped). Raises ValueError when the key does not open ``sealed``."""
    raise NotImplementedError("placeholder: the redaction helper implements this")
