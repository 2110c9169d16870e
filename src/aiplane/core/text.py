"""Text that can be stored and shown: what no name may hold, and how a value holding it is
written down.

PostgreSQL cannot store a NUL in text, a lone surrogate (from a URL's %ED%A0%80 decoded with
surrogateescape, or a JSON "\\ud800") cannot be encoded at all, and the other C0 controls
would let a logged value forge line breaks in what an operator reads.
"""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00-\x1f\ud800-\udfff]")


# What a document's text (a command, an env value) may not hold even where line breaks are
# fine: what no store can keep (NUL) or no encoder can write (a lone surrogate).
UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def storable(text: str) -> bool:
    """Whether ``text`` holds none of the characters above."""
    return UNSTORABLE.search(text) is None


def encodable(text: str) -> bool:
    """Whether ``text`` holds no NUL and no lone surrogate (other controls allowed)."""
    return UNENCODABLE.search(text) is None


def clean(text: str) -> str:
    """``text`` with NUL, lone surrogates and C0 controls written as ``\\x00``/``\\ud800``."""
    return UNSTORABLE.sub(_escape_char, text)
