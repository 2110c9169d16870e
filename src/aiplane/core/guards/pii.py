"""PII and secrets in text: what each is, where it is.

PLACEHOLDER (contract only): e-mail addresses alone, so the layers above can be built and
tested before the detectors land. The signatures and ``PII_TYPES`` are the contract.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from aiplane.core.guards.types import GuardName, GuardResult, Span

PII_TYPES = frozenset(
    {
        "email",
        "phone",
        "card",  # a payment card number that passes Luhn
        "iban",  # passes mod-97
        "national_id",  # with its checksum where the scheme has one
        "ip",
        "api_key",  # a known prefix, or a long high-entropy token
        "private_key",  # a PEM private key block
    }
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def find_pii(text: str, types: Collection[str] | None = None) -> tuple[Span, ...]:
    """The PII and secrets in ``text``, sorted by start, never overlapping; ``types`` narrows
    to some of ``PII_TYPES`` (None: all)."""
    wanted = PII_TYPES if types is None else frozenset(types)
    if "email" not in wanted:
        return ()
    return tuple(Span(m.start(), m.end(), "email") for m in _EMAIL.finditer(text))


def pii_result(text: str, types: Collection[str] | None = None) -> GuardResult:
    spans = find_pii(text, types)
    kinds = sorted({s.kind for s in spans})
    reason = f"found {', '.join(kinds)}" if spans else ""
    return GuardResult(GuardName.PII, bool(spans), 1.0 if spans else 0.0, spans, reason)
