"""Secrets in text: API keys and tokens (the providers' own prefixes, JWTs, and long random
tokens written next to a word such as ``key`` or ``token``) and PEM or OpenSSH private
key blocks.

Named ``credentials`` rather than ``secrets`` so that it never shadows the standard library's
module of that name.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from aiplane.core.guards.types import Span

# Characters a token may be made of; one next to the match means the match is a piece of a
# longer token, not a key.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

# The providers' documented formats: (the literal prefixes, the whole key). Candidates are
# found with substring searches for the prefixes (fast: no regex tries every position),
# then matched in place. AWS's ten prefixes share their first letter: one regex, which
# the engine also scans for with a substring search.
_AWS_KEY = re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|NPA|NVA|PKA)[A-Z0-9]{16}")
_KNOWN_KEYS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # GitHub's personal, OAuth, user-to-server, server-to-server and refresh tokens
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), re.compile(r"gh[pousr]_[A-Za-z0-9]{36,251}")),
    (("github_pat_",), re.compile(r"github_pat_[A-Za-z0-9_]{22,247}")),  # GitHub fine-grained
    (("glpat-",), re.compile(r"glpat-[A-Za-z0-9_-]{20,}")),  # GitLab
    (("xox",), re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}")),  # Slack
    # Stripe's secret and restricted keys
    (
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        re.compile(r"[sr]k_[a-z]{4}_[A-Za-z0-9]{16,}"),
    ),
    # Anthropic (sk-ant-), OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-)
    (("sk-",), re.compile(r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    (("AIza",), re.compile(r"AIza[0-9A-Za-z_-]{35}")),  # Google API key
    (("eyJ",), re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),  # JWT
)

# A key-ish word (found with substring searches in the lowercased text), then the rest of
# its identifier (all of it: a value glued to the word is part of a longer identifier), a
# quote, a space, ``:``/``=``/``=>`` or ``is``, then the value: the span.
_KEY_WORDS = ("key", "token", "secret", "password", "passwd", "pwd", "bearer", "credential", "auth")
_AFTER_KEY_WORD = re.compile(
    r"""[A-Za-z0-9_-]*+(?=["'\s:=])["']?\s{0,3}(?:[:=]|=>|:=|is\b)?\s{0,3}["']?"""
    r"(?P<value>[A-Za-z0-9+/_=-]{20,})"
)
_KEYWORD_BEFORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

# How far under a random string's entropy a token may fall and still pass for random. The
# yardstick is the entropy of ``n`` draws from the token's alphabet (the classes it uses:
# 16 for hex, 26 per case, 10 digits, 4 symbols) if every distinct character it is likely
# to hold occurred equally often: about the median of random strings. 0.6 bits under it
# keeps 99.9% of random base62 strings of 20 to 40 characters, 99.6% of 32-character hex
# ones and 98.4% of 20-character hex ones (20,000 draws each), and drops repetition
# (``ab12ab12...``).
ENTROPY_SLACK_BITS = 0.6
_HEX = frozenset("0123456789abcdef")

_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
# A block cut off before its END line: its body runs as long as base64, its headers
# (``Proc-Type: 4,ENCRYPTED``) and its line breaks (also written ``\n`` inside JSON) do.
_PEM_BODY = re.compile(r"(?:[A-Za-z0-9+/=:,\s-]|\\n)*")


def shannon_entropy(token: str) -> float:
    """Bits per character of ``token``'s own character distribution."""
    n = len(token)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())


def entropy_floor(token: str) -> float:
    """The entropy (bits per character) below which ``token`` is too regular for random."""
    if set(token.lower()) <= _HEX and not (
        any(c.islower() for c in token) and any(c.isupper() for c in token)
    ):
        alphabet = 16
    else:
        alphabet = (
            26 * any(c.islower() for c in token)
            + 26 * any(c.isupper() for c in token)
            + 10 * any(c.isdigit() for c in token)
            + 4 * any(not c.isalnum() for c in token)
        )
    distinct = alphabet * (1 - (1 - 1 / alphabet) ** len(token))
    return math.log2(distinct) - ENTROPY_SLACK_BITS


def looks_random(token: str) -> bool:
    """At least 20 characters, letters and digits mixed, and an entropy near a random
    string's of that length and alphabet. (Entropy alone cannot tell a long English
    identifier from a random token; the key-ish word next to it, which the caller checks,
    and the mix of classes do most of the work.)"""
    if len(token) < 20:
        return False
    if not any(c.isdigit() for c in token) or not any(c.isalpha() for c in token):
        return False
    return shannon_entropy(token) >= entropy_floor(token)


def _mixed_case_and_digits(token: str) -> bool:
    return (
        any(c.isupper() for c in token)
        and any(c.islower() for c in token)
        and any(c.isdigit() for c in token)
    )


def find_api_keys(text: str) -> Iterator[Span]:
    """Known-format keys (score 0.99) and random tokens next to a key-ish word (0.75)."""
    for m in _AWS_KEY.finditer(text):
        if (span := _known_key(text, m)) is not None:
            yield span
    for prefixes, pattern in _KNOWN_KEYS:
        for prefix in prefixes:
            at = text.find(prefix)
            while at >= 0:
                if (span := _known_key(text, pattern.match(text, at))) is not None:
                    yield span
                at = text.find(prefix, at + 1)
    low = text.lower()
    for word in _KEY_WORDS:
        at = low.find(word)
        while at >= 0:
            yield from _value_after(text, at, at + len(word))
            at = low.find(word, at + 1)


def _known_key(text: str, m: re.Match[str] | None) -> Span | None:
    if m is None:
        return None
    start, end = m.span()
    if (start and text[start - 1] in _TOKEN_CHARS) or (
        end < len(text) and text[end] in _TOKEN_CHARS
    ):
        return None
    # ``sk-`` also starts prose (``sk-learn-is-the-library``): OpenAI's keys mix cases and
    # digits; words joined by hyphens do not.
    if m.group().startswith("sk-") and not _mixed_case_and_digits(m.group()[3:]):
        return None
    return Span(start, end, "api_key", 0.99)


def _value_after(text: str, word_start: int, word_end: int) -> Iterator[Span]:
    if word_start and text[word_start - 1] in _KEYWORD_BEFORE:
        return  # ``monkey``, ``turkey``: the word is the end of another
    if text.startswith("-----", word_end):
        return  # a PEM armour line (``PUBLIC KEY-----``): its body is no key
    m = _AFTER_KEY_WORD.match(text, word_end)
    if m is None:
        return
    start, end = m.span("value")
    if end < len(text) and text[end] in _TOKEN_CHARS:
        return
    if looks_random(m.group("value").rstrip("=")):
        yield Span(start, end, "api_key", 0.75)


def find_private_keys(text: str) -> Iterator[Span]:
    """PEM (PKCS#1, PKCS#8, EC, encrypted, PGP) and OpenSSH private key blocks, BEGIN line
    through END line; a block cut off before END runs to the end of its body."""
    at = 0
    while (begin := _PEM_BEGIN.search(text, at)) is not None:
        end_line = _PEM_END.search(text, begin.end())
        if end_line is not None:
            end = end_line.end()
        else:
            body = _PEM_BODY.match(text, begin.end())
            end = begin.end() if body is None else body.end()
            while end > begin.end() and text[end - 1].isspace():
                end -= 1
        yield Span(begin.start(), end, "private_key", 1.0)
        at = end
