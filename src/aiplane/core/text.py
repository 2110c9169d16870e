"""Text that can be stored and shown: what no name may hold, and how a value holding it is
written down.

PostgreSQL cannot store a NUL in text, a lone surrogate (from a URL's %ED%A0%80 decoded with
surrogateescape, or a JSON "\\ud800") cannot be encoded at all, and the other controls
would let a logged value forge line breaks in what an operator reads: C0, DEL and C1 (NEL,
U+0085, is a line break to many readers, CSI, U+009B, starts a terminal escape) and the
Unicode line and paragraph separators U+2028/U+2029 (line breaks to JavaScript and editors).
"""

from __future__ import annotations

import re

# What no id, name, time or filter holds (a query value, a path value, an audit field):
# every control character (Unicode's Cc: C0, DEL, C1), the line and paragraph separators
# and the lone surrogates.
UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


# What a document's text (a command, an env value) may not hold even where line breaks are
# fine: what no store can keep (NUL) or no encoder can write (a lone surrogate).
UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def storable(text: str) -> bool:
    """Whether ``text`` holds none of the characters above."""
    return UNSTORABLE.search(text) is None


def encodable(text: str) -> bool:
    """Whether ``text`` holds no NUL and no lone surrogate (other controls allowed)."""
    return UNENCODABLE.search(text) is None


def clean(text: str) -> str:
    """``text`` with every character above written as ``\\x00``, ``\\x85`` or ``\\u2028``."""
    return UNSTORABLE.sub(_escape_char, text)
