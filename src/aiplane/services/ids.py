"""Identifiers that sort by creation time, so listings page by id without an extra index."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.digits + string.ascii_lowercase
_EPOCH_MS = 1_577_836_800_000  # 2020-01-01: keeps ids short for the next 89 years


def _base36(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str, now: float) -> str:
    """``prefix`` + 8 base-36 digits of milliseconds + 5 random: sortable and collision-safe
    for thousands of ids per millisecond."""
    ms = max(0, int(now * 1000) - _EPOCH_MS)
    return f"{prefix}{_base36(ms, 8)}{_base36(secrets.randbelow(36**5), 5)}"
