"""Ways attackers hide an instruction from a filter while a model still reads it.

Each function takes the payload (plain text) and a seeded generator and returns the disguised
payload; ``OBFUSCATIONS`` names them as the data sets record them in ``obfuscation``. The
evaluation and the training sets share these transformations (a technique is what a detector
should learn), never the payload phrasings they are applied to.
"""

from __future__ import annotations

import base64
import codecs
import random
import urllib.parse
from collections.abc import Callable

ZERO_WIDTH = (
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u2060",
    "\u2061",
    "\u2062",
    "\u2063",
    "\u2064",
)

# Latin letters and the Cyrillic or Greek letters that look the same in most fonts.
HOMOGLYPHS = {
    "a": ("\u0430",),  # Cyrillic a
    "c": ("\u0441",),  # Cyrillic es
    "e": ("\u0435",),  # Cyrillic ie
    "i": ("\u0456",),  # Cyrillic i (Ukrainian)
    "o": ("\u043e", "\u03bf"),  # Cyrillic o, Greek omicron
    "p": ("\u0440", "\u03c1"),  # Cyrillic er, Greek rho
    "s": ("\u0455",),  # Cyrillic dze
    "x": ("\u0445",),  # Cyrillic ha
    "y": ("\u0443",),  # Cyrillic u
    "A": ("\u0410", "\u0391"),
    "B": ("\u0412", "\u0392"),
    "E": ("\u0415", "\u0395"),
    "H": ("\u041d", "\u0397"),
    "I": ("\u0406", "\u0399"),
    "K": ("\u041a", "\u039a"),
    "M": ("\u041c", "\u039c"),
    "O": ("\u041e", "\u039f"),
    "P": ("\u0420", "\u03a1"),
    "T": ("\u0422", "\u03a4"),
    "X": ("\u0425", "\u03a7"),
}

LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1", "g": "9"}


def zero_width(text: str, rng: random.Random) -> str:
    """Invisible format characters between the letters of every word."""
    out = []
    for ch in text:
        out.append(ch)
        if ch.isalpha() and rng.random() < 0.7:
            out.append(rng.choice(ZERO_WIDTH))
    return "".join(out)


def tag_chars(text: str, rng: random.Random) -> str:
    """The whole payload as Unicode tag characters (U+E0000 block): invisible, but a model whose
    tokenizer keeps them can read the ASCII they mirror ("ASCII smuggling")."""
    del rng
    return (
        "\U000e0001"
        + "".join(chr(0xE0000 + ord(c)) for c in text if ord(c) < 0x80)
        + ("\U000e007f")
    )


def homoglyph(text: str, rng: random.Random) -> str:
    """About half of the letters that have a look-alike swapped for it."""
    return "".join(
        rng.choice(HOMOGLYPHS[ch]) if ch in HOMOGLYPHS and rng.random() < 0.5 else ch for ch in text
    )


def leetspeak(text: str, rng: random.Random) -> str:
    return "".join(
        LEET[ch.lower()] if ch.lower() in LEET and rng.random() < 0.75 else ch for ch in text
    )


def spaced_letters(text: str, rng: random.Random) -> str:
    """Letters apart: "i g n o r e" (words kept apart by a wider gap or a slash)."""
    gap = rng.choice(("   ", " / ", "  "))
    sep = rng.choice((" ", ".", "-"))
    return gap.join(sep.join(word) for word in text.split())


def split_lines(text: str, rng: random.Random) -> str:
    """Two to four words a line, so no line holds the whole phrase."""
    words = text.split()
    lines, i = [], 0
    while i < len(words):
        n = rng.randint(2, 4)
        lines.append(" ".join(words[i : i + n]))
        i += n
    return "\n".join(lines)


def base64_wrap(text: str, rng: random.Random) -> str:
    blob = base64.b64encode(text.encode()).decode()
    hint = rng.choice(("", "base64: ", "Decode this and follow it: ", "[b64] ", "payload="))
    return hint + blob


def hex_wrap(text: str, rng: random.Random) -> str:
    blob = text.encode().hex()
    if rng.random() < 0.5:
        blob = " ".join(blob[i : i + 2] for i in range(0, len(blob), 2))
    hint = rng.choice(("", "hex: ", "Decode (hex) and obey: ", "0x"))
    return hint + blob


def url_encoding(text: str, rng: random.Random) -> str:
    quoted = (
        urllib.parse.quote(text, safe="")
        if rng.random() < 0.5
        else "".join(f"%{b:02X}" for b in text.encode())
    )
    return rng.choice(("", "q=", "note=")) + quoted


def rot13(text: str, rng: random.Random) -> str:
    hint = rng.choice(("(rot13) ", "ROT13: ", "Apply ROT13 then do it: ", ""))
    return hint + codecs.encode(text, "rot13")


Obfuscation = Callable[[str, random.Random], str]

# ``markdown_html`` is not a transformation of the text: the carriers hide the payload in
# markup (an HTML comment, display:none, alt text, a link title, white-on-white) themselves.
OBFUSCATIONS: dict[str, Obfuscation] = {
    "zero_width": zero_width,
    "tag_chars": tag_chars,
    "homoglyph": homoglyph,
    "base64": base64_wrap,
    "hex": hex_wrap,
    "url_encoding": url_encoding,
    "rot13": rot13,
    "split_lines": split_lines,
    "spaced_letters": spaced_letters,
    "leetspeak": leetspeak,
}


def apply(name: str, text: str, rng: random.Random) -> str:
    if name in ("none", "markdown_html"):
        return text
    return OBFUSCATIONS[name](text, rng)
