"""What every guard answers: a verdict, a score, the spans it found and why.

A guard is a pure function of text (and, for the output guards, of what the request carried):
no I/O, no clock, no randomness it did not get as an argument. Spans are offsets into the text
as given (Python string indices, end exclusive), so a caller can show or redact them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class GuardName(StrEnum):
    INJECTION = "injection"  # prompt injection, direct or hidden in a document
    PII = "pii"  # personal data and secrets (keys, tokens, private keys)
    CANARY = "canary"  # the system prompt's canary token seen in a response (prompt leak)


class GuardAction(StrEnum):
    """What the gateway does with a hit, per endpoint and guard."""

    BLOCK = "block"  # 403 with the guard's reason; the upstream is not called
    REDACT = "redact"  # PII replaced by typed placeholders before the upstream sees it
    FLAG = "flag"  # passed on, recorded


@dataclass(frozen=True)
class Span:
    """A stretch of the text a guard found: ``kind`` is what it is (``email``, ``card``,
    ``iban``, ``api_key``, ``injection``, ``canary``...), ``score`` how sure (0 to 1)."""

    start: int
    end: int
    kind: str
    score: float = 1.0


@dataclass(frozen=True)
class GuardResult:
    guard: GuardName
    hit: bool
    score: float  # 0 to 1; ``hit`` is ``score >= threshold`` for the guard's fixed threshold
    spans: tuple[Span, ...] = ()
    reason: str = ""  # one sentence a caller can read: what was found, never the text itself
