"""Redaction that keeps text usable: each span becomes a typed placeholder (``[EMAIL_1]``),
the same value the same placeholder; the originals travel sealed with a key, so only the
caller that holds it can put them back.

The seal is AES-256-GCM over a small JSON object of placeholder → original, written as
``r1.`` and the URL-safe base64 (no padding) of nonce + ciphertext + tag. The version and
the placeholder format are authenticated too (the associated data), so a seal cannot be
replayed under another format. The core draws no randomness: the caller gives the 12-byte
nonce, and must never give the same one twice under one key (GCM's rule).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aiplane.core.guards.types import Span

KEY_BYTES = 32
NONCE_BYTES = 12
_VERSION = "r1"
_AAD = b"aiplane-redaction-r1"
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*_[1-9][0-9]*\]")


@dataclass(frozen=True)
class Redacted:
    text: str  # with placeholders in place of the spans
    spans: tuple[Span, ...]  # where the placeholders are in ``text``
    # The originals, encrypted and authenticated with the caller's key (None without a key).
    sealed: str | None = None


def _merged(text: str, spans: Sequence[Span]) -> list[Span]:
    """The spans by start, overlapping ones merged into the first (a redaction never leaves
    part of a value showing); empty ones dropped."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not 0 <= span.start <= span.end <= len(text):
            raise ValueError(
                f"span {span.start}:{span.end} is outside the text (length {len(text)})"
            )
        if span.start == span.end:
            continue
        if out and span.start < out[-1].end:
            last = out[-1]
            out[-1] = Span(last.start, max(last.end, span.end), last.kind, last.score)
        else:
            out.append(span)
    return out


def _label(kind: str) -> str:
    label = re.sub(r"[^A-Z0-9]+", "_", kind.upper()).strip("_")
    return label if label and label[0].isalpha() else f"PII_{label}".rstrip("_")


def redact(
    text: str, spans: Sequence[Span], key: bytes | None = None, nonce: bytes | None = None
) -> Redacted:
    """``text`` with each span replaced by ``[KIND_N]`` (N counts the distinct values of
    that kind; the same value is the same placeholder); with a ``key`` (32 bytes) and a
    fresh ``nonce`` (12 bytes) from the caller, the originals sealed. Overlapping spans are
    merged into one. A placeholder that the text already carries is never reused, so
    ``restore`` cannot mistake the text's own ``[EMAIL_1]`` for one of ours."""
    if (key is None) != (nonce is None):
        raise ValueError("sealing needs both a key and a nonce (the core draws no randomness)")
    if key is not None and len(key) != KEY_BYTES:
        raise ValueError(f"the key must be {KEY_BYTES} bytes, not {len(key)}")
    if nonce is not None and len(nonce) != NONCE_BYTES:
        raise ValueError(f"the nonce must be {NONCE_BYTES} bytes, not {len(nonce)}")
    taken = set(_PLACEHOLDER.findall(text))
    out: list[str] = []
    placed: list[Span] = []
    by_value: dict[tuple[str, str], str] = {}
    counts: dict[str, int] = {}
    originals: dict[str, str] = {}
    at = 0
    length = 0
    for span in _merged(text, spans):
        out.append(text[at : span.start])
        length += span.start - at
        value = text[span.start : span.end]
        label = _label(span.kind)
        placeholder = by_value.get((label, value))
        if placeholder is None:
            while True:
                counts[label] = counts.get(label, 0) + 1
                placeholder = f"[{label}_{counts[label]}]"
                if placeholder not in taken:
                    break
            by_value[(label, value)] = placeholder
            originals[placeholder] = value
        out.append(placeholder)
        placed.append(Span(length, length + len(placeholder), span.kind, span.score))
        length += len(placeholder)
        at = span.end
    out.append(text[at:])
    sealed = None
    if key is not None and nonce is not None:
        sealed = _seal(originals, key, nonce)
    return Redacted("".join(out), tuple(placed), sealed)


def _seal(originals: dict[str, str], key: bytes, nonce: bytes) -> str:
    plain = json.dumps(originals, ensure_ascii=False, separators=(",", ":")).encode()
    box = nonce + AESGCM(key).encrypt(nonce, plain, _AAD)
    return f"{_VERSION}.{base64.urlsafe_b64encode(box).rstrip(b'=').decode('ascii')}"


def _open(sealed: str, key: bytes) -> dict[str, str]:
    version, dot, body = sealed.partition(".")
    if version != _VERSION or not dot:
        raise ValueError(f"not a sealed redaction (expected the prefix {_VERSION!r})")
    try:
        standard = body.replace("-", "+").replace("_", "/") + "=" * (-len(body) % 4)
        box = base64.b64decode(standard, validate=True)  # no character silently dropped
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the sealed redaction is not valid base64") from exc
    if len(box) < NONCE_BYTES + 16:
        raise ValueError("the sealed redaction is too short")
    try:
        plain = AESGCM(key).decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:], _AAD)
    except InvalidTag as exc:
        raise ValueError("the key does not open this sealed redaction, or it was altered") from exc
    originals = json.loads(plain)
    if not isinstance(originals, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in originals.items()
    ):
        raise ValueError("the sealed redaction does not hold placeholders")
    return originals


def restore(text: str, sealed: str, key: bytes) -> str:
    """``text`` with the placeholders ``sealed`` holds put back: each one every time it
    occurs, exactly as written (a placeholder the text no longer has is skipped; one the
    seal does not hold is left alone). Raises ValueError when the key does not open
    ``sealed`` or it was altered."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"the key must be {KEY_BYTES} bytes, not {len(key)}")
    originals = _open(sealed, key)
    if not originals:
        return text
    return _PLACEHOLDER.sub(lambda m: originals.get(m.group(), m.group()), text)
