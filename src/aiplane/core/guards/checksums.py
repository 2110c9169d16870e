"""The check digits and format rules that tell a real identifier from a number that merely
looks like one: Luhn and the issuers' ranges (payment cards), mod-97 (IBAN, the French NIR),
Verhoeff (Aadhaar), the 11-test (Dutch BSN), the mod-23 letter (Spanish DNI and NIE) and
the US SSN's and the UK NINO's allocation rules.

Every function takes the identifier's characters without separators and answers a bool (or
the card's brand); none of them raises on odd input.
"""

from __future__ import annotations

# The IBAN's length per country (ISO 13616 registry, SWIFT release 2024): a country code
# that is not here is no IBAN, and one of the wrong length is none either.
_IBAN_TABLE = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 "
    "DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 "
    "HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 "
    "MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 "
    "RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 "
    "VA22 VG24 XK20 YE30 "
)
IBAN_LENGTHS: dict[str, int] = {e[:2]: int(e[2:]) for e in _IBAN_TABLE.split()}


def luhn_valid(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812-1) over a string of ASCII digits."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# (brand, IIN ranges as inclusive (low, high) prefixes of equal width, accepted lengths).
# Narrow ranges first: a number is the first brand whose range and length it fits.
_CARD_BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), frozenset(range(14, 20))),
    ("jcb", ((3528, 3589),), frozenset(range(16, 20))),
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("mir", ((2200, 2204),), frozenset(range(16, 20))),
    ("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), frozenset(range(16, 20))),
    ("unionpay", ((62, 62), (81, 81)), frozenset(range(16, 20))),
    (
        "maestro",
        ((5018, 5018), (5020, 5020), (5038, 5038), (5893, 5893), (6304, 6304), (6759, 6759)),
        frozenset(range(12, 20)),
    ),
    ("maestro", ((6761, 6763),), frozenset(range(12, 20))),
)


def card_brand(digits: str) -> str | None:
    """The card scheme whose issuer range and length ``digits`` fits, else None (Luhn is
    checked apart: a number in a known range that fails it is no card)."""
    if not digits.isascii() or not digits.isdigit():
        return None
    n = len(digits)
    for brand, ranges, lengths in _CARD_BRANDS:
        if n not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return brand
    return None


def iban_valid(compact: str) -> bool:
    """An IBAN without spaces (any case): a known country, its length, and mod-97 == 1."""
    iban = compact.upper()
    if not iban.isascii() or not iban.isalnum() or len(iban) < 5:
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    moved = iban[4:] + iban[:4]
    # Letters count as 10..35; folding the remainder as we go keeps the numbers small.
    remainder = 0
    for ch in moved:
        value = ord(ch) - 48 if ch.isdigit() else ord(ch) - 55
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


# Verhoeff's dihedral-group tables (the multiplication, the position permutation).
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    """Verhoeff's check over a string of digits, the check digit last."""
    if not digits.isascii() or not digits.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def aadhaar_valid(digits: str) -> bool:
    """India's Aadhaar: 12 digits, not starting with 0 or 1, Verhoeff check digit last."""
    return len(digits) == 12 and digits[0] not in "01" and verhoeff_valid(digits)


def bsn_valid(digits: str) -> bool:
    """The Dutch BSN's 11-test: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11."""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit() or digits == "0" * 9:
        return False
    total = sum((9 - i) * (ord(ch) - 48) for i, ch in enumerate(digits[:8]))
    return (total - (ord(digits[8]) - 48)) % 11 == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_valid(compact: str) -> bool:
    """A Spanish DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits and a letter): the
    letter is the number mod 23 in the ministry's table (the NIE's X, Y, Z count as 0, 1, 2)."""
    s = compact.upper()
    if len(s) != 9 or not s.isascii():
        return False
    head, body, letter = s[0], s[1:8], s[8]
    if head in "XYZ":
        head = str("XYZ".index(head))
    number = head + body
    if not number.isdigit() or not letter.isalpha():
        return False
    return _DNI_LETTERS[int(number) % 23] == letter


def nir_valid(compact: str) -> bool:
    """The French NIR (social security number): 13 characters and a 2-digit key equal to
    97 - (number mod 97); Corsica's departments 2A and 2B count as 19 and 18."""
    s = compact.upper()
    if len(s) != 15 or not s.isascii():
        return False
    body, key = s[:13], s[13:]
    if body[5:7] == "2A":
        body = body[:5] + "19" + body[7:]
    elif body[5:7] == "2B":
        body = body[:5] + "18" + body[7:]
    if not body.isdigit() or not key.isdigit():
        return False
    if body[0] not in "123478" or not 1 <= int(body[3:5]) <= 99:
        return False
    return 97 - int(body) % 97 == int(key)


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """A US SSN's allocation rules: no area 000, 666 or 900-999; no group 00; no serial
    0000 (the SSA never issues those)."""
    if not (area + group + serial).isdigit() or (len(area), len(group), len(serial)) != (3, 2, 4):
        return False
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# NINO: first letter not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; these pairs
# are never allocated (HMRC's NIM39110).
_NINO_FIRST = frozenset("ABCEGHJKLMNOPRSTWXYZ")
_NINO_SECOND = frozenset("ABCEGHJKLMNPRSTWXYZ")
_NINO_BARRED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_valid(compact: str) -> bool:
    """A UK National Insurance number: two prefix letters by HMRC's rules, six digits and
    a suffix A, B, C or D."""
    s = compact.upper()
    if len(s) != 9 or not s.isascii():
        return False
    prefix, digits, suffix = s[:2], s[2:8], s[8]
    return (
        prefix[0] in _NINO_FIRST
        and prefix[1] in _NINO_SECOND
        and prefix not in _NINO_BARRED
        and digits.isdigit()
        and suffix in "ABCD"
    )
