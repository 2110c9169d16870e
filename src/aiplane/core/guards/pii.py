"""PII and secrets in text: what each is, where it is.

One pass finds candidates, then each has to pass its scheme's rules (a checksum where the
scheme has one, the allocation rules, a word for it nearby for the formats any number could
have). The pass is cheap because most of the text is never looked at twice: one scan finds
runs of digits, and the number schemes (phones, cards, national identifiers, IPv4) run
only inside those runs; one scan finds a capital before a digit (IBAN, NINO, NIE); e-mail
addresses grow out of each ``@``; keys out of substring searches for their prefixes and for
key-ish words. Each regex starts with a character class and checks what precedes the match
in a fixed-width lookbehind after it, so the engine skips ahead to plausible first
characters and never starts inside a longer number or word. The number regexes are ASCII
(``re.ASCII``): a digit is 0-9 as the schemes mean it, twice as fast to scan, and a CJK
character before a phone number is not a letter the number is glued to.

Where candidates overlap, the longest wins, then the most specific (the higher score).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator

from aiplane.core.guards import checksums
from aiplane.core.guards.credentials import find_api_keys, find_private_keys
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

# ---- e-mail ------------------------------------------------------------------------------

# Found from each ``@``: the local part leftwards character by character (it is short), the
# domain with one anchored match. No scan of the text for the local part's first letter.
_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_DOMAIN = re.compile(
    r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.[^\W\d_]{2,63}(?![\w@-]|\.[^\W_])"
)
_LOCAL_MAX = 64


def _emails(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at >= 0:
        start = at
        while start > 0 and at - start < _LOCAL_MAX:
            c = text[start - 1]
            if c not in _LOCAL_CHARS and not c.isalnum():
                break
            start -= 1
        local = text[start:at].lstrip(".")
        start = at - len(local)
        domain = _DOMAIN.match(text, at + 1)
        if domain is not None and local and not local.endswith(".") and ".." not in local:
            yield Span(start, domain.end(), "email", 0.95)
        at = text.find("@", at + 1)


# ---- numbers: phones, cards, national identifiers, IPv4 ----------------------------------
#
# One scan finds runs of at least four digits (with the separators numbers are written with);
# each scheme's regex then runs only inside such a run. Prose with a year in it costs one
# scan, not one per scheme.

_NUMERIC_RUN = re.compile(
    r"[\d+(](?:(?<=[+(])\d|(?<=\d))(?:[ ()./-]{0,2}(?:\d|(?<=2)[AB])){3,}",
    re.ASCII,
)
# Past a run's end, what the schemes' lookaheads (and the DNI's letter) must still see.
_RUN_MARGIN = 3

# International (E.164 with the usual groupings): +, a country code, then groups separated
# by one space, dot or dash, with an optional (0) trunk prefix and area code in parentheses.
# Possessive, so a failed match never backtracks through the ways of splitting the digits.
_PHONE_INTL = re.compile(
    r"\+(?<![\w+]\+)[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?(?:\(\d{1,5}\)|\d{1,6}))++(?!\w)",
    re.ASCII,
)
# North American: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199. The area
# code and the exchange start with 2-9.
_PHONE_NANP = re.compile(
    r"[(2-9](?<![\w+/(][(2-9])(?:(?<=\()[2-9]\d\d\) ?|(?<![(])\d\d[ .-])[2-9]\d\d[ .-]\d{4}"
    r"(?!\w|[.-]\d)",
    re.ASCII,
)
# National with a trunk 0 (UK, DE, FR, most of Europe): 020 7946 0958, (030) 123 456 78,
# 030/1234567, 01 23 45 67 89, 06-12-34-56-78.
_PHONE_TRUNK = re.compile(
    r"[(0](?<![\w.+/-][(0])(?:(?<=\()0\d{1,4}\)|(?<!\()\d{1,4})(?:[ ./-]?\d{2,8})++(?!\w|[.-]\d)",
    re.ASCII,
)
_SEPARATOR = re.compile(r"[ ./-]+|\) ?")

_CARD = re.compile(r"\d(?<![\w.,-]\d)(?:[ -]?\d){12,18}(?![\w]|[.,-]\d)", re.ASCII)

_SSN = re.compile(
    r"\d(?<![\w.,/-]\d)\d\d([- ])\d\d\1\d{4}(?![\w]|[.,/-]\d)",
    re.ASCII,
)
_NINE = re.compile(r"\d(?<![\w.,/-]\d)\d{8}(?![\w]|[.,/-]\d)", re.ASCII)
_DNI = re.compile(r"\d(?<![\w]\d)\d{7}-?[A-Z](?!\w)", re.ASCII)
_NIR = re.compile(
    r"[1-478](?<![\w][1-478]) ?\d\d ?\d\d ?(?:\d\d|2[AB]) ?\d{3} ?\d{3} ?\d\d(?!\w)",
    re.ASCII,
)
_AADHAAR = re.compile(
    r"[2-9](?<![\w.,/-][2-9])\d{3}([ -]?)\d{4}\1\d{4}(?![\w]|[.,/-]\d)",
    re.ASCII,
)

_IPV4 = re.compile(
    r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)",
    re.ASCII,
)
_VERSION_WORDS = re.compile(r"version|\bver\b|release|build", re.IGNORECASE)

# A weak format (nine digits, twelve digits) counts only with a word for it nearby.
_SSN_WORDS = re.compile(r"\bssn\b|social security|\bsoc\.? ?sec|\bss#|\bssa\b")
_BSN_WORDS = re.compile(r"\bbsn\b|burgerservicenummer|sofi[- ]?nummer|\bsofi\b")
_AADHAAR_WORDS = re.compile(r"aadh?aar|\buidai\b|\buid\b")
_BEFORE, _AFTER = 48, 24

_Match = re.Match[str]

# A group of a longer grouped number just before (``DE89 3704 0044 ...``): what follows is
# that number's tail, not a phone number of its own.
_GROUP_BEFORE = re.compile(r"(?<![A-Za-z0-9])(?=[A-Z]*\d)[A-Z0-9]{2,6} $", re.ASCII)


def _tail_of_grouped(text: str, start: int) -> bool:
    return _GROUP_BEFORE.search(text, max(0, start - 8), start) is not None


_NOT_DIGITS = str.maketrans("", "", " ()./+-AB")


def _digit_count(value: str) -> int:
    """The digits in a run of digits and separators (``str.translate``: no Python loop)."""
    return len(value.translate(_NOT_DIGITS))


def _near(text: str, start: int, end: int, words: re.Pattern[str]) -> bool:
    return words.search(text[max(0, start - _BEFORE) : end + _AFTER].lower()) is not None


def _intl(_text: str, m: _Match) -> Span | None:
    digits = _digit_count(m.group())
    return Span(m.start(), m.end(), "phone", 0.85) if 8 <= digits <= 15 else None


def _nanp(text: str, m: _Match) -> Span | None:
    start, end = m.span()
    value = m.group()
    if not value.startswith("("):
        seps = [c for c in value if not c.isdigit()]
        if len(set(seps)) != 1:  # 415-555 2671 is two numbers, or none
            return None
    # A ``1-`` (or ``1 ``, ``1.``) trunk prefix belongs to the number.
    if start >= 2 and text[start - 2] == "1" and text[start - 1] in " .-":
        if start == 2 or not (text[start - 3].isalnum() or text[start - 3] in ".-+"):
            start -= 2
        elif text[start - 1] != " ":
            return None
    elif start and text[start - 1] in ".-":
        return None  # the tail of a longer dotted or dashed number
    if _tail_of_grouped(text, start):
        return None
    return Span(start, end, "phone", 0.8)


def _trunk(text: str, m: _Match) -> Span | None:
    value = m.group()
    digits = _digit_count(value)
    if value.lstrip("(").startswith("00"):
        # 00 dials abroad (0044 20 7946 0958): a country code (never 0) and E.164's length.
        if value.lstrip("(")[2:3] == "0" or not 10 <= digits <= 17:
            return None
    elif not 9 <= digits <= 12:
        return None
    seps = _SEPARATOR.findall(value)
    if not seps:
        return None  # a bare run of digits has no phone shape
    if value.startswith("(") or seps[0] == "/":
        seps = seps[1:]  # ``(030) 123 456``, ``030/123 456``: what follows the area code
    if len(set(seps)) > 1 or "/" in seps:
        return None  # mixed separators: a date and a time, a list of numbers
    if _tail_of_grouped(text, m.start()):
        return None
    return Span(m.start(), m.end(), "phone", 0.8)


def _card(_text: str, m: _Match) -> Span | None:
    value = m.group()
    groups = re.split(r"[ -]", value)
    if len(groups) > 1:
        # Printed card numbers are grouped 4-4-4-4(-3), 4-6-5 or 4-6-4 with one kind of
        # separator; ISBNs (978-3-16-148410-0) and lists of numbers are not.
        if len({c for c in value if not c.isdigit()}) != 1:
            return None
        if len(groups[0]) != 4 or any(not 3 <= len(g) <= 6 for g in groups[1:]):
            return None
    digits = "".join(groups)
    if checksums.card_brand(digits) and checksums.luhn_valid(digits):
        return Span(m.start(), m.end(), "card", 0.99)
    return None


def _ssn(text: str, m: _Match) -> Span | None:
    v = m.group()
    if not checksums.ssn_valid(v[0:3], v[4:6], v[7:11]):
        return None
    # 123-45-6789 has the SSN's own shape; spaced, it could be anything.
    if m.group(1) == "-" or _near(text, m.start(), m.end(), _SSN_WORDS):
        return Span(m.start(), m.end(), "national_id", 0.85)
    return None


def _nine(text: str, m: _Match) -> Span | None:
    v, s, e = m.group(), m.start(), m.end()
    if checksums.bsn_valid(v) and _near(text, s, e, _BSN_WORDS):
        return Span(s, e, "national_id", 0.9)
    if checksums.ssn_valid(v[0:3], v[3:5], v[5:9]) and _near(text, s, e, _SSN_WORDS):
        return Span(s, e, "national_id", 0.8)
    return None


def _dni(_text: str, m: _Match) -> Span | None:
    if checksums.dni_valid(m.group().replace("-", "")):
        return Span(m.start(), m.end(), "national_id", 0.95)
    return None


def _nir(_text: str, m: _Match) -> Span | None:
    if checksums.nir_valid(m.group().replace(" ", "")):
        return Span(m.start(), m.end(), "national_id", 0.95)
    return None


def _aadhaar(text: str, m: _Match) -> Span | None:
    digits = m.group().replace(" ", "").replace("-", "")
    if checksums.aadhaar_valid(digits) and _near(text, m.start(), m.end(), _AADHAAR_WORDS):
        return Span(m.start(), m.end(), "national_id", 0.9)
    return None


def _ipv4(text: str, m: _Match) -> Span | None:
    for octet in m.group().split("."):
        if int(octet) > 255 or (len(octet) > 1 and octet[0] == "0"):
            return None
    if _VERSION_WORDS.search(text, max(0, m.start() - 16), m.start()):
        return None  # ``version 1.2.3.4``
    return Span(m.start(), m.end(), "ip", 0.9)


_Check = Callable[[str, _Match], Span | None]
# Whether a scheme can match in a run at all, from the run (its text, its digit count, the
# character after it): most runs need one or two schemes, and each regex call costs more
# than these tests.
_Gate = Callable[[str, int, str], bool]
_NUMERIC: tuple[tuple[str, re.Pattern[str], _Check, _Gate], ...] = (
    ("phone", _PHONE_INTL, _intl, lambda run, n, _: n >= 8 and "+" in run),
    ("phone", _PHONE_NANP, _nanp, lambda run, n, _: n >= 10 and not run.isdigit()),
    ("phone", _PHONE_TRUNK, _trunk, lambda run, n, _: n >= 9 and "0" in run),
    ("card", _CARD, _card, lambda _, n, __: n >= 13),
    ("national_id", _SSN, _ssn, lambda run, n, _: n >= 9 and not run.isdigit()),
    ("national_id", _NINE, _nine, lambda _, n, __: n >= 9),
    ("national_id", _DNI, _dni, lambda _, n, after: n >= 8 and (after.isalpha() or after == "-")),
    ("national_id", _NIR, _nir, lambda _, n, __: n >= 13),
    ("national_id", _AADHAAR, _aadhaar, lambda _, n, __: n >= 12),
    ("ip", _IPV4, _ipv4, lambda run, _, __: run.count(".") >= 3),
)


def _numbers(text: str, wanted: frozenset[str]) -> Iterator[Span]:
    schemes = [s for s in _NUMERIC if s[0] in wanted]
    if not schemes:
        return
    n = len(text)
    for run in _NUMERIC_RUN.finditer(text):
        value = run.group()
        digits = _digit_count(value)
        if digits < 8 and "." not in value:
            continue  # a year, a quantity: too short for anything but an IPv4 address
        start, end = run.start(), min(n, run.end() + _RUN_MARGIN)
        after = text[run.end() : run.end() + 1]
        for _, pattern, check, gate in schemes:
            if gate(value, digits, after):
                for m in pattern.finditer(text, start, end):
                    if (span := check(text, m)) is not None:
                        yield span


# ---- letters first: IBAN, UK NINO, Spanish NIE -------------------------------------------

# Where one of them can start: a capital (not inside a word), maybe another, then a digit.
_CAPITAL_START = re.compile(r"[A-Z](?<![\w][A-Z])[A-Z]?[ -]?\d", re.ASCII)
_IBAN = re.compile(r"[A-Z]{2}\d\d(?: ?[A-Z0-9]){11,30}", re.ASCII)
_NINO = re.compile(r"[A-Z]{2} ?\d\d ?\d\d ?\d\d ?[A-D](?!\w)", re.ASCII)
_NIE = re.compile(r"[XYZ]-?\d{7}-?[A-Z](?!\w)", re.ASCII)


def _iban(text: str, m: _Match) -> Span | None:
    length = checksums.IBAN_LENGTHS.get(m.group()[:2])
    if length is None:
        return None
    # The match may run on into the next word; the country's length says where the IBAN
    # ends, and it must end there.
    taken = 0
    end = m.start()
    while end < m.end() and taken < length:
        if text[end] != " ":
            taken += 1
        end += 1
    if taken < length or (end < len(text) and text[end].isalnum()):
        return None
    if checksums.iban_valid(text[m.start() : end].replace(" ", "")):
        return Span(m.start(), end, "iban", 1.0)
    return None


def _nino(_text: str, m: _Match) -> Span | None:
    if checksums.nino_valid(m.group().replace(" ", "")):
        return Span(m.start(), m.end(), "national_id", 0.9)
    return None


_LETTERED: tuple[tuple[str, re.Pattern[str], _Check], ...] = (
    ("iban", _IBAN, _iban),
    ("national_id", _NINO, _nino),
    ("national_id", _NIE, _dni),
)


def _lettered(text: str, wanted: frozenset[str]) -> Iterator[Span]:
    schemes = [s for s in _LETTERED if s[0] in wanted]
    if not schemes:
        return
    for at in _CAPITAL_START.finditer(text):
        for _, pattern, check in schemes:
            m = pattern.match(text, at.start())
            if m is not None and (span := check(text, m)) is not None:
                yield span


# ---- IPv6 --------------------------------------------------------------------------------

_IPV6 = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{0,4}:){0,6}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:%[A-Za-z0-9]+)?(?![\w:]|\.\d)",
    re.ASCII,
)


def _ipv6(text: str) -> Iterator[Span]:
    if "::" not in text and text.count(":") < 7:
        return  # every IPv6 address has a ``::`` or seven colons
    for m in _IPV6.finditer(text):
        value = m.group()
        if value.count(":") < 2 or not any(c.isdigit() for c in value):
            continue  # ``std::``, ``cafe::face``: C++ and Rust paths, not addresses
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue  # a time (10:30:00), a MAC address, a ratio
        yield Span(m.start(), m.end(), "ip", 0.9)


# ---- all together ------------------------------------------------------------------------


def _candidates(text: str, wanted: frozenset[str]) -> Iterator[Span]:
    if "private_key" in wanted:
        yield from find_private_keys(text)
    if "api_key" in wanted:
        yield from find_api_keys(text)
    if "email" in wanted:
        yield from _emails(text)
    if "ip" in wanted:
        yield from _ipv6(text)
    yield from _numbers(text, wanted)
    yield from _lettered(text, wanted)


def _resolve(candidates: Iterable[Span]) -> tuple[Span, ...]:
    """The non-overlapping subset: longest first, then the most specific, then leftmost."""
    kept: list[Span] = []
    for span in sorted(candidates, key=lambda s: (s.start - s.end, -s.score, s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return tuple(sorted(kept, key=lambda s: s.start))


def find_pii(text: str, types: Collection[str] | None = None) -> tuple[Span, ...]:
    """The PII and secrets in ``text``, sorted by start, never overlapping; ``types`` narrows
    to some of ``PII_TYPES`` (None: all). Raises ValueError on a type that is not one."""
    wanted = PII_TYPES if types is None else frozenset(types)
    if unknown := wanted - PII_TYPES:
        raise ValueError(f"unknown PII types {sorted(unknown)}; known: {sorted(PII_TYPES)}")
    return _resolve(_candidates(text, wanted))


def pii_result(text: str, types: Collection[str] | None = None) -> GuardResult:
    """``find_pii`` as a guard's verdict; the reason names the kinds and their counts, never
    the values."""
    spans = find_pii(text, types)
    if not spans:
        return GuardResult(GuardName.PII, False, 0.0)
    counts = Counter(s.kind for s in spans)
    found = ", ".join(f"{kind} ({counts[kind]})" for kind in sorted(counts))
    reason = f"found {len(spans)} PII or secret span{'s' if len(spans) > 1 else ''}: {found}"
    return GuardResult(GuardName.PII, True, max(s.score for s in spans), spans, reason)
