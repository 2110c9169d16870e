"""Text normalisation for the injection detector, with a map back to the original offsets.

An attacker hides an instruction from a filter, not from the model: the model reads through
zero-width characters, look-alike letters, spaced-out words and base64. So the detector reads
a *view* of the text in which those are undone, and keeps, for each character of the view, the
index of the original character it came from, so spans point into the text as given.

The view: invisible and format characters (Unicode Cf: zero-width, bidi controls) dropped and
counted; tag characters (U+E0000 block, invisible, spelling ASCII) decoded in place and counted;
NFKC (fullwidth, mathematical letters); Cyrillic and Greek look-alikes folded to Latin;
lower-cased; spaced-out letters ("i g n o r e") joined; leetspeak in words that mix letters
and digits ("1gn0re") read as letters. Encoded segments (base64, hex, URL encoding, ROT13) are
found and decoded separately: :func:`decoded_segments`.
"""

from __future__ import annotations

import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_plus

import numpy as np
import numpy.typing as npt

# Cyrillic, Greek and IPA letters that look like Latin ones, by the Latin letter (lower case:
# the view is lower-cased first, and NFKC has already mapped fullwidth and mathematical letters
# to ASCII). Written as escapes so the source shows what they are.
_LOOK_ALIKES = {
    "a": "\u0430\u03b1",
    "b": "\u0432\u03b2",
    "c": "\u0441\u03f2",
    "d": "\u0501",
    "e": "\u0435\u0451\u03b5",
    "g": "\u0261",
    "h": "\u043d\u04bb",
    "i": "\u0456\u0457\u0131\u03b9",
    "j": "\u0458\u03f3",
    "k": "\u043a\u03ba",
    "m": "\u043c",
    "n": "\u03b7",
    "o": "\u043e\u03bf",
    "p": "\u0440\u03c1",
    "q": "\u051b",
    "s": "\u0455",
    "t": "\u0442\u03c4",
    "u": "\u03c5",
    "v": "\u03bd",
    "w": "\u051d\u03c9",
    "x": "\u0445\u03c7",
    "y": "\u0443",
}
_HOMOGLYPHS = str.maketrans({c: latin for latin, cs in _LOOK_ALIKES.items() for c in cs})
_FORMAT = "\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff"
_HIDDEN_IN_WORD = re.compile(rf"(?<=[^\W\d_])[{_FORMAT}]+(?=[^\W\d_])")
_BIDI_OVERRIDE = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_LOOK = "\u0370-\u03ff\u0400-\u04ff\u0500-\u052f\u0250-\u02af"
_MIXED_SCRIPT = re.compile(rf"[a-zA-Z][{_LOOK}]|[{_LOOK}](?=[a-zA-Z])")

# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": five or more single letters with one separator
# between them (a word boundary on both sides, so "a b c" inside prose needs five letters).
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*]){4,}[a-z](?![a-z])")
# Leetspeak inside a word that has letters too: "1gn0r3", "pr3v10us", "th3" (not "2024",
# "v1.2", "q3", "h264", "1st", "90s", a hex string or "0x0x0x"): 3 to 20 characters, two
# letters or more, one that is not a hex digit, and only the digits leetspeak uses. "@" and
# "$" are left alone: they would turn e-mail addresses and prices into words.
_LEET_WORD = re.compile(
    r"\b(?!0x|\d+(?:st|nd|rd|th|s)\b)(?=[a-z0-9]*[g-z])(?=[a-z]*[013457])"
    r"(?=(?:[013457]*[a-z]){2})[a-z013457]{3,20}\b"
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})


@dataclass(frozen=True)
class View:
    """The normalised text and, per character, the index of the original character."""

    text: str
    # offsets[i] is the original index of text[i]; None: the identity (every original
    # character became exactly one character of the view).
    offsets: npt.NDArray[np.intp] | None
    invisible: int = 0  # format characters dropped (zero-width, bidi controls)
    tags: int = 0  # tag characters decoded
    homoglyphs: int = 0  # look-alike letters folded in a text that also has Latin letters
    spaced: int = 0  # runs of spaced-out letters joined
    leet: int = 0  # words read as leetspeak
    # Where in the view the joined runs and the leetspeak words start: those signs count in
    # the chunks that hold them, not across a whole document.
    spaced_at: tuple[int, ...] = ()
    leet_at: tuple[int, ...] = ()

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the view's ``[start, end)``."""
        if self.offsets is None:
            return start, end
        if not len(self.offsets):
            return 0, 0
        if start >= end:
            at = int(self.offsets[min(start, len(self.offsets) - 1)])
            return at, at
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1


def normalize(text: str) -> View:
    chars, offsets, invisible, tags, folded = _fold(text)
    chars, offsets, spaced_at = _join_spaced(chars, offsets)
    chars, leet_at = _unleet(chars)
    return View(
        chars,
        offsets,
        invisible,
        tags,
        folded,
        len(spaced_at),
        len(leet_at),
        spaced_at,
        leet_at,
    )


_UPPER = str.maketrans({chr(c): chr(c + 32) for c in range(65, 91)})


@dataclass(frozen=True)
class _Fold:
    to: str  # what the character becomes ("" when dropped)
    kind: str  # "", "invisible", "tag", "homoglyph"


_FOLDS: dict[str, _Fold] = {}


def _fold_char(ch: str) -> _Fold:
    cp = ord(ch)
    if 0xE0000 <= cp <= 0xE007F:
        # Tag characters spell ASCII invisibly: read what they spell.
        return _Fold(chr(cp - 0xE0000).lower() if 0xE0020 <= cp <= 0xE007E else "", "tag")
    category = unicodedata.category(ch)
    if category == "Cf":
        return _Fold("", "invisible")
    if category == "Mn":  # combining marks stacked on letters ("zalgo")
        return _Fold("", "")
    to = unicodedata.normalize("NFKC", ch).lower()
    folded = to.translate(_HOMOGLYPHS)
    return _Fold(folded, "homoglyph" if folded != to else "")


def _fold(text: str) -> tuple[str, npt.NDArray[np.intp] | None, int, int, int]:
    if text.isascii():
        return text.translate(_UPPER), None, 0, 0, 0
    # Per distinct character, not per character: a table for str.translate, and offsets
    # only when some character became other than one character.
    table: dict[int, str] = {}
    counts = {"invisible": 0, "tag": 0, "homoglyph": 0}
    resized: dict[int, int] = {}
    for ch in set(text):
        if ch.isascii():
            continue
        fold = _FOLDS.get(ch)
        if fold is None:
            fold = _FOLDS.setdefault(ch, _fold_char(ch))
        table[ord(ch)] = fold.to
        if fold.kind:
            counts[fold.kind] += text.count(ch)
        if len(fold.to) != 1:
            resized[ord(ch)] = len(fold.to)
    chars = text.translate(_UPPER).translate(table)
    offsets: npt.NDArray[np.intp] | None = None
    if resized:
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lengths = np.ones(len(cps), dtype=np.intp)
        for cp, n in resized.items():
            lengths[cps == cp] = n
        offsets = np.repeat(np.arange(len(cps), dtype=np.intp), lengths)
    # Counted as a sign of hiding only where benign text has no use for them: format
    # characters inside a word (not the joiner of an emoji sequence, a byte-order mark, a
    # right-to-left mark beside Hebrew) and bidi overrides anywhere; look-alikes inside a
    # Latin word (not a Greek or Russian word or name).
    invisible = counts["invisible"] and len(_HIDDEN_IN_WORD.findall(text)) + len(
        _BIDI_OVERRIDE.findall(text)
    )
    folded = counts["homoglyph"] and len(_MIXED_SCRIPT.findall(text))
    return chars, offsets, invisible, counts["tag"], folded


def _join_spaced(
    chars: str, offsets: npt.NDArray[np.intp] | None
) -> tuple[str, npt.NDArray[np.intp] | None, tuple[int, ...]]:
    runs = list(_SPACED.finditer(chars))
    if not runs:
        return chars, offsets, ()
    source = offsets if offsets is not None else np.arange(len(chars), dtype=np.intp)
    keep = np.ones(len(chars), dtype=bool)
    for m in runs:
        keep[m.start() + 1 : m.end() : 2] = False  # the separators between the letters
    out = "".join(ch for ch, k in zip(chars, keep, strict=True) if k)
    # A run's start in the joined text: the characters kept before it.
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    return out, source[keep], tuple(int(kept_before[m.start()]) for m in runs)


_LEET_HINT = re.compile(r"[a-z][013457]|[013457][a-z]")


def _unleet(chars: str) -> tuple[str, tuple[int, ...]]:
    # Length-preserving, so the offsets stay as they are.
    if not _LEET_HINT.search(chars):
        return chars, ()
    at: list[int] = []

    def read(m: re.Match[str]) -> str:
        at.append(m.start())
        return m.group().translate(_LEET)

    return _LEET_WORD.sub(read, chars), tuple(at)


@dataclass(frozen=True)
class Decoded:
    """An encoded segment of the original text and what it decodes to."""

    start: int
    end: int
    encoding: str  # base64, hex, url, rot13
    text: str


_BASE64 = re.compile(r"[A-Za-z0-9+/\-_]{16,}={0,2}")
_HEX = re.compile(r"(?:(?:\\x|0x)?[0-9a-fA-F]{2}[ :]?){12,}")
# Starting only where a token starts, with no nested repeats: linear in the text.
_URL = re.compile(r"(?<![^\s%])[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){4,}")
_WORDS = re.compile(r"[a-z]+")
_LINES = re.compile(r"[^\n]+")
# Common English words: a line whose ROT13 reading has many more of them than the line itself
# is ROT13 text.
_COMMON = frozenset(
    [
        "the",
        "and",
        "you",
        "your",
        "all",
        "any",
        "are",
        "for",
        "from",
        "not",
        "now",
        "this",
        "that",
        "with",
        "what",
        "have",
        "will",
        "must",
        "previous",
        "instructions",
        "ignore",
        "above",
        "prior",
        "system",
        "prompt",
        "tell",
        "say",
        "print",
        "reveal",
        "send",
        "forget",
        "rules",
        "user",
        "assistant",
        "data",
        "password",
        "secret",
        "new",
        "task",
        "is",
        "to",
        "of",
        "a",
        "an",
        "in",
        "it",
        "be",
    ]
)


COMMON_ROT13 = frozenset(codecs.encode(w, "rot13") for w in _COMMON)


def decoded_segments(text: str, *, rot13: bool | None = None) -> tuple[Decoded, ...]:
    """Segments of ``text`` that decode (base64, hex, URL encoding, ROT13) to readable text.
    ``rot13``: whether to look for ROT13 lines (None: when the text has enough words that
    are common English words in ROT13; a caller that has counted them says so)."""
    found: list[Decoded] = []
    for m in _BASE64.finditer(text):
        decoded = _base64(m.group())
        if decoded is not None:
            found.append(Decoded(m.start(), m.end(), "base64", decoded))
    for m in _HEX.finditer(text):
        digits = re.sub(r"\\x|0x|[ :]", "", m.group())
        decoded = _readable(binascii.unhexlify(digits[: len(digits) // 2 * 2]))
        if decoded is not None:
            found.append(Decoded(m.start(), m.end(), "hex", decoded))
    if "%" in text:
        for m in _URL.finditer(text):
            decoded_url = unquote_plus(m.group())
            if _is_text(decoded_url) and decoded_url != m.group():
                found.append(Decoded(m.start(), m.end(), "url", decoded_url))
    if rot13 is None:
        rot13 = sum(w in COMMON_ROT13 for w in _WORDS.findall(text.lower())) >= 3
    if rot13:
        found += _rot13_lines(text)
    return tuple(found)


def _rot13_lines(text: str) -> list[Decoded]:
    found: list[Decoded] = []
    lower = text.lower()
    if len(lower) != len(text):  # a letter whose lower case is longer: keep the offsets
        lower = text
    for m in _LINES.finditer(lower):
        line = m.group()
        plain = _WORDS.findall(line)
        if len(plain) < 4:
            continue
        rotated = codecs.encode(line, "rot13")
        common_rot = sum(w in _COMMON for w in _WORDS.findall(rotated))
        common_plain = sum(w in _COMMON for w in plain)
        if common_rot >= 3 and common_rot > 2 * common_plain + 1:
            found.append(Decoded(m.start(), m.end(), "rot13", rotated))
    return found


def _base64(segment: str) -> str | None:
    if segment.isalpha() or segment.isdigit():  # a plain long word or number
        return None
    s = segment.replace("-", "+").replace("_", "/").rstrip("=")
    s += "=" * (-len(s) % 4)
    try:
        raw = binascii.a2b_base64(s)
    except (binascii.Error, ValueError):
        return None
    return _readable(raw)


def _readable(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded if _is_text(decoded) else None


def _is_text(s: str) -> bool:
    if len(s) < 8:
        return False
    printable = sum(c.isprintable() or c in "\n\t" for c in s)
    letters = sum(c.isalpha() for c in s)
    # Four words at least: a decoded city name in a tracking link is no instruction.
    return printable >= 0.95 * len(s) and letters >= 0.5 * len(s) and len(s.split()) >= 4
