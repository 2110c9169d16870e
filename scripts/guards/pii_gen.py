"""Valid PII values (with their checksums) and the look-alikes that are not PII.

Every generator takes a seeded ``random.Random`` and returns the value as it would be written
in text. The checksums follow the schemes' definitions: Luhn for cards, ISO 13616 mod-97 for
IBANs, the SSA's area/group/serial rules for US SSNs, HMRC's prefix rules for UK NINOs, the
mod-23 letter of Spanish DNIs, the Dutch BSN "11-test", the French NIR key (97 - n mod 97) and
Verhoeff for Aadhaar.
"""

from __future__ import annotations

import base64
import json
import random
import string

DIGITS = string.digits
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


# --- payment cards -------------------------------------------------------------------------


def luhn_check_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        doubled = d * 2 if i % 2 == 1 else d
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


# (brand, IIN prefixes, length, grouping)
CARD_BRANDS = (
    ("visa", ("4",), 16, (4, 4, 4, 4)),
    ("mastercard", ("51", "52", "53", "54", "55", "2221", "2300", "2720"), 16, (4, 4, 4, 4)),
    ("amex", ("34", "37"), 15, (4, 6, 5)),
    ("discover", ("6011", "65", "644"), 16, (4, 4, 4, 4)),
    ("jcb", ("3528", "3589"), 16, (4, 4, 4, 4)),
    ("maestro", ("6759", "5018"), 16, (4, 4, 4, 4)),
)


def _group(number: str, groups: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for g in groups:
        out.append(number[i : i + g])
        i += g
    return sep.join(out)


def card(rng: random.Random) -> str:
    _, prefixes, length, groups = rng.choice(CARD_BRANDS)
    prefix = rng.choice(prefixes)
    partial = prefix + _digits(rng, length - len(prefix) - 1)
    number = partial + luhn_check_digit(partial)
    return _group(number, groups, rng.choice((" ", "-", "", " ")))


def card_bad_luhn(rng: random.Random) -> str:
    _, prefixes, length, groups = rng.choice(CARD_BRANDS[:2])
    prefix = rng.choice(prefixes)
    partial = prefix + _digits(rng, length - len(prefix) - 1)
    good = int(luhn_check_digit(partial))
    bad = str((good + rng.randint(1, 9)) % 10)
    return _group(partial + bad, groups, rng.choice((" ", "-", "")))


# --- IBAN ----------------------------------------------------------------------------------

# country, BBAN pattern: n = digit, a = upper letter, c = upper alphanumeric
IBAN_FORMATS = (
    ("DE", "n" * 18),
    ("GB", "aaaa" + "n" * 14),
    ("FR", "n" * 10 + "c" * 11 + "nn"),
    ("NL", "aaaa" + "n" * 10),
    ("ES", "n" * 20),
    ("IT", "a" + "n" * 10 + "c" * 12),
    ("BE", "n" * 12),
    ("CH", "n" * 5 + "c" * 12),
    ("AT", "n" * 16),
    ("PL", "n" * 24),
)
GB_BANKS = ("NWBK", "BARC", "LOYD", "HBUK", "MIDL", "MONZ")
NL_BANKS = ("ABNA", "INGB", "RABO", "TRIO", "SNSB", "KNAB")


def _iban_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _bban(rng: random.Random, country: str, pattern: str) -> str:
    chars = []
    for p in pattern:
        pool = {"n": DIGITS, "a": string.ascii_uppercase, "c": UPPER_ALNUM}[p]
        chars.append(rng.choice(pool))
    bban = "".join(chars)
    if country == "GB":
        bban = rng.choice(GB_BANKS) + bban[4:]
    if country == "NL":
        bban = rng.choice(NL_BANKS) + bban[4:]
    return bban


def _iban_text(compact: str, rng: random.Random) -> str:
    if rng.random() < 0.6:
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


def iban(rng: random.Random) -> str:
    country, pattern = rng.choice(IBAN_FORMATS)
    bban = _bban(rng, country, pattern)
    return _iban_text(country + _iban_check(country, bban) + bban, rng)


def iban_bad_check(rng: random.Random) -> str:
    country, pattern = rng.choice(IBAN_FORMATS)
    bban = _bban(rng, country, pattern)
    good = int(_iban_check(country, bban))
    bad = (good + rng.randint(1, 50)) % 97
    bad = max(bad, 2)
    if bad == good:
        bad = good + 1 if good < 96 else 2
    return _iban_text(f"{country}{bad:02d}{bban}", rng)


# --- national identifiers --------------------------------------------------------------------


def ssn(rng: random.Random, dashes: bool = True) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    group = rng.randint(1, 99)
    serial = rng.randint(1, 9999)
    if dashes:
        return f"{area:03d}-{group:02d}-{serial:04d}"
    return f"{area:03d}{group:02d}{serial:04d}"


def ssn_invalid(rng: random.Random) -> str:
    """Dashed like an SSN but never issued: area 000, 666 or 9xx, group 00 or serial 0000."""
    kind = rng.randrange(4)
    area = (0, 666, rng.randint(900, 999), rng.randint(1, 665))[kind]
    group = 0 if kind == 3 and rng.random() < 0.5 else rng.randint(1, 99)
    serial = 0 if kind == 3 and group != 0 else rng.randint(1, 9999)
    return f"{area:03d}-{group:02d}-{serial:04d}"


NINO_FIRST = [c for c in string.ascii_uppercase if c not in "DFIQUV"]
NINO_SECOND = [c for c in string.ascii_uppercase if c not in "DFIOQUV"]
NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def nino(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
        if prefix not in NINO_BAD_PREFIXES:
            break
    body = _digits(rng, 6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{prefix} {body[:2]} {body[2:4]} {body[4:]} {suffix}"
    return f"{prefix}{body}{suffix}"


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni(rng: random.Random) -> str:
    n = rng.randint(10_000_000, 99_999_999)
    sep = rng.choice(("", "", "-"))
    return f"{n}{sep}{DNI_LETTERS[n % 23]}"


def dni_bad(rng: random.Random) -> str:
    n = rng.randint(10_000_000, 99_999_999)
    good = DNI_LETTERS[n % 23]
    return f"{n}{rng.choice([c for c in DNI_LETTERS if c != good])}"


def bsn_ok(number: str) -> bool:
    d = [int(c) for c in number]
    return (
        len(d) == 9
        and (sum(w * x for w, x in zip(range(9, 1, -1), d[:8], strict=True)) - d[8]) % 11 == 0
    )


def bsn(rng: random.Random) -> str:
    while True:
        body = _digits(rng, 8)
        if body[0] == "0":
            continue
        total = sum(w * int(x) for w, x in zip(range(9, 1, -1), body, strict=True))
        last = total % 11
        if last <= 9:
            return body + str(last)


def nir(rng: random.Random) -> str:
    """French NIR: sex, year, month, department, commune, order, then the key."""
    sex = rng.choice("12")
    year = f"{rng.randint(40, 99):02d}" if rng.random() < 0.7 else f"{rng.randint(0, 6):02d}"
    month = f"{rng.randint(1, 12):02d}"
    dept = f"{rng.choice([d for d in range(1, 96) if d != 20]):02d}"
    commune = f"{rng.randint(1, 990):03d}"
    order = f"{rng.randint(1, 999):03d}"
    body = sex + year + month + dept + commune + order
    key = 97 - int(body) % 97
    if rng.random() < 0.5:
        return f"{sex} {year} {month} {dept} {commune} {order} {key:02d}"
    return f"{body}{key:02d}"


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
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_check_digit(partial: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(partial)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    return str(_VERHOEFF_INV[c])


def verhoeff_ok(number: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def aadhaar(rng: random.Random) -> str:
    partial = str(rng.randint(2, 9)) + _digits(rng, 10)
    number = partial + verhoeff_check_digit(partial)
    if rng.random() < 0.6:
        return f"{number[:4]} {number[4:8]} {number[8:]}"
    return number


def aadhaar_bad(rng: random.Random) -> str:
    partial = str(rng.randint(2, 9)) + _digits(rng, 10)
    good = verhoeff_check_digit(partial)
    bad = rng.choice([d for d in DIGITS if d != good])
    number = partial + bad
    return f"{number[:4]} {number[4:8]} {number[8:]}"


# --- phones ----------------------------------------------------------------------------------


def phone(rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:  # US E.164
        return f"+1{rng.choice(('415', '212', '646', '312', '617', '206'))}555{_digits(rng, 4)}"
    if kind == 1:
        return f"({rng.choice(('415', '303', '512', '718'))}) 555-{_digits(rng, 4)}"
    if kind == 2:
        return f"+1 {rng.choice(('202', '650', '404'))}-{rng.randint(200, 989)}-{_digits(rng, 4)}"
    if kind == 3:  # UK London, E.164 spaced
        return f"+44 20 7946 {_digits(rng, 4)}"
    if kind == 4:  # UK mobile, national
        return f"07700 900{_digits(rng, 3)}"
    if kind == 5:
        return f"+447{rng.randint(400, 999)}{_digits(rng, 6)}"
    if kind == 6:  # DE Berlin / Munich
        return f"+49 {rng.choice(('30', '89', '40', '221'))} {_digits(rng, 7)}"
    if kind == 7:  # DE mobile national
        return f"0{rng.choice(('151', '160', '172', '176'))} {_digits(rng, 8)}"
    if kind == 8:
        return f"030/{_digits(rng, 3)} {_digits(rng, 4)}"
    if kind == 9:  # FR
        pairs = " ".join(_digits(rng, 2) for _ in range(4))
        return f"+33 {rng.choice('1234567')} {pairs}"
    if kind == 10:
        pairs = " ".join(_digits(rng, 2) for _ in range(4))
        return f"0{rng.choice('67')} {pairs}"
    pairs = ".".join(_digits(rng, 2) for _ in range(4))
    return f"01.{pairs}"


# --- addresses -------------------------------------------------------------------------------


def ipv4(rng: random.Random) -> str:
    first = rng.choice((23, 34, 45, 52, 81, 91, 104, 145, 172, 185, 192, 203, 10, 100, 198))
    if first == 10:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if first == 192:
        return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if first == 172:
        return f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    groups[0] = rng.choice(("2001", "2a02", "2606", "2a00", "fe80", "2400"))
    kind = rng.randrange(3)
    if kind == 0:
        return ":".join(groups)
    if kind == 1:  # compressed run of zeros in the middle
        return ":".join(groups[:3]) + "::" + ":".join(groups[6:])
    return groups[0] + ":" + groups[1] + "::" + groups[7]


# --- secrets ---------------------------------------------------------------------------------


def _pick(rng: random.Random, pool: str, n: int) -> str:
    return "".join(rng.choice(pool) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def api_key(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return "AKIA" + _pick(rng, string.ascii_uppercase + "234567", 16)
    if kind == 1:
        return "ghp_" + _pick(rng, ALNUM, 36)
    if kind == 2:
        return f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_pick(rng, ALNUM, 24)}"
    if kind == 3:
        return "sk_live_" + _pick(rng, ALNUM, rng.choice((24, 34, 99)))
    if kind == 4:
        return rng.choice(("sk-", "sk-proj-")) + _pick(rng, ALNUM + "_-", 48)
    if kind == 5:
        return "AIza" + _pick(rng, ALNUM + "_-", 35)
    if kind == 6:
        return jwt(rng)
    return rng.choice(("github_pat_", "glpat-", "xoxp-")) + _pick(rng, ALNUM, 40)


def jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": rng.choice(("HS256", "RS256")), "typ": "JWT"}).encode())
    claims = {
        "sub": _digits(rng, 8),
        "name": rng.choice(("Ana Ruiz", "Tom Becker", "Mia Chen", "Leo Martin")),
        "iat": 1_700_000_000 + rng.randint(0, 30_000_000),
    }
    payload = _b64url(json.dumps(claims).encode())
    sig = _b64url(bytes(rng.randrange(256) for _ in range(32)))
    return f"{header}.{payload}.{sig}"


def private_key(rng: random.Random) -> str:
    label = rng.choice(("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"))
    n_bytes = {"EC PRIVATE KEY": 121, "OPENSSH PRIVATE KEY": 400}.get(label, rng.choice((600, 900)))
    body = base64.b64encode(bytes(rng.randrange(256) for _ in range(n_bytes))).decode()
    width = 70 if label == "OPENSSH PRIVATE KEY" else 64
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


# --- look-alikes -----------------------------------------------------------------------------


def uuid_like(rng: random.Random) -> str:
    h = _pick(rng, "0123456789abcdef", 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def git_sha(rng: random.Random, short: bool = False) -> str:
    return _pick(rng, "0123456789abcdef", 7 if short else 40)


def sha256_hex(rng: random.Random) -> str:
    return _pick(rng, "0123456789abcdef", 64)


def isbn13(rng: random.Random) -> str:
    body = "978" + _digits(rng, 9)
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body))
    check = (10 - total % 10) % 10
    s = body + str(check)
    return f"{s[:3]}-{s[3]}-{s[4:7]}-{s[7:12]}-{s[12]}"
