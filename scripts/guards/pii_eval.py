"""EVALUATION ONLY: texts with known PII spans, and look-alikes that hold none.

Sentences come from ``templates/pii.eval.txt``; ``[[kind]]`` is a value drawn by ``pii_gen``.
A PII kind's value is recorded as a span ``{type, start, end}`` (offsets into ``text``, end
exclusive) with one of the eight types; a look-alike's value (a card number that fails Luhn,
an IBAN with wrong check digits, a date, a UUID, a git SHA...) is not.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pii_gen as g
from textgen import Record, fill, new_rng, read_banks

BANK_FILE = Path(__file__).parent / "templates" / "pii.eval.txt"
_MARK = re.compile(r"\[\[(\w+)\]\]")

_FIRST = (
    "maria",
    "j.oconnor",
    "aiko.s",
    "lars",
    "fatima.zahra",
    "p.girard",
    "sofia",
    "wei.chen",
    "t.becker",
    "nina+orders",
    "k.patel",
    "admin.ops",
)
_DOMAINS = (
    "gmail.com",
    "outlook.de",
    "northwind.co.uk",
    "mail.meridian-health.org",
    "example.fr",
    "yahoo.es",
    "uni-heidelberg.de",
    "fieldstone.io",
)


def email(rng: random.Random) -> str:
    number = rng.choice(("", "", str(rng.randint(1, 99))))
    return f"{rng.choice(_FIRST)}{number}@{rng.choice(_DOMAINS)}"


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
    months = (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    )
    return rng.choice(
        (
            f"{y}-{m:02d}-{d:02d}",
            f"{d:02d}.{m:02d}.{y}",
            f"{months[m - 1]} {d}, {y}",
            f"{m:02d}/{d:02d}/{y}",
        )
    )


def _order(rng: random.Random) -> str:
    return rng.choice(
        (
            f"ORD-{rng.randint(2020, 2026)}-{rng.randint(100000, 999999)}",
            f"#{rng.randint(10_000_000, 99_999_999)}",
            f"PO-{rng.randint(10000, 99999)}",
            f"INV/{rng.randint(2020, 2026)}/{rng.randint(1, 9999):04d}",
        )
    )


def _version(rng: random.Random) -> str:
    a, b, c = rng.randint(0, 12), rng.randint(0, 40), rng.randint(0, 30)
    return rng.choice((f"v{a}.{b}.{c}", f"{a}.{b}.{c}", f"{a}.{b}.{c}-rc.{rng.randint(1, 4)}"))


def _build(rng: random.Random) -> str:
    return rng.choice(
        (
            f"{rng.randint(2022, 2026)}.{rng.randint(1, 12):02d}.{rng.randint(1000, 9999)}",
            f"10.0.{rng.randint(19000, 22999)}",
            f"b{rng.randint(10000, 99999)}",
        )
    )


def _price(rng: random.Random) -> str:
    whole, cents = rng.randint(3, 4999), rng.randint(0, 99)
    return rng.choice(
        (
            f"€{whole:,}.{cents:02d}",
            f"${whole}.{cents:02d}",
            f"{whole:,}".replace(",", ".") + f",{cents:02d} EUR",
            f"£{whole}",
        )
    )


def _tracking(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(10))
    return rng.choice(
        (f"1Z{rng.randint(100, 999)}AA{digits}", f"JJD000{digits}", f"RR{digits[:9]}DE")
    )


def _plain9(rng: random.Random) -> str:
    while True:
        n = str(rng.randint(100_000_000, 999_999_999))
        if not g.bsn_ok(n):
            return n


def _card_kind(rng: random.Random) -> str:
    return g.card(rng)


# kind -> (generator, PII type or None for a look-alike)
KINDS: dict[str, tuple[Callable[[random.Random], str], str | None]] = {
    "email": (email, "email"),
    "phone": (g.phone, "phone"),
    "card": (_card_kind, "card"),
    "iban": (g.iban, "iban"),
    "ssn": (g.ssn, "national_id"),
    "ssn_plain": (lambda r: g.ssn(r, dashes=False), "national_id"),
    "nino": (g.nino, "national_id"),
    "dni": (g.dni, "national_id"),
    "bsn": (g.bsn, "national_id"),
    "nir": (g.nir, "national_id"),
    "aadhaar": (g.aadhaar, "national_id"),
    "ipv4": (g.ipv4, "ip"),
    "ipv6": (g.ipv6, "ip"),
    "api_key": (g.api_key, "api_key"),
    "jwt": (g.jwt, "api_key"),
    "aws_key": (
        lambda r: "AKIA" + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "api_key",
    ),
    "private_key": (g.private_key, "private_key"),
    "bad_card": (g.card_bad_luhn, None),
    "bad_iban": (g.iban_bad_check, None),
    "bad_ssn": (g.ssn_invalid, None),
    "bad_dni": (g.dni_bad, None),
    "bad_aadhaar": (g.aadhaar_bad, None),
    "date": (_date, None),
    "order": (_order, None),
    "version": (_version, None),
    "build": (_build, None),
    "uuid": (g.uuid_like, None),
    "sha": (g.git_sha, None),
    "short_sha": (lambda r: g.git_sha(r, short=True), None),
    "sha256": (g.sha256_hex, None),
    "price": (_price, None),
    "isbn": (g.isbn13, None),
    "tracking": (_tracking, None),
    "plain9": (_plain9, None),
}


def render(
    template: str, rng: random.Random, banks: dict[str, list[str]]
) -> tuple[str, list[dict[str, object]]]:
    """The text and its spans: literal pieces filled, each ``[[kind]]`` drawn."""
    pieces = _MARK.split(template)
    text, spans = "", []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            text += fill(piece, rng, banks)
            continue
        gen, pii_type = KINDS[piece]
        value = gen(rng)
        if pii_type is not None:
            spans.append({"type": pii_type, "start": len(text), "end": len(text) + len(value)})
        text += value
    return text, spans


def build(seed: int = 13_003, rounds: int = 9) -> list[Record]:
    rng = new_rng(seed)
    banks = read_banks(BANK_FILE)
    records: list[Record] = []
    seen: set[str] = set()
    for _ in range(rounds):
        for group in ("positive", "lookalike"):
            for template in banks[group]:
                text, spans = render(template, rng, banks)
                if text in seen:
                    continue
                seen.add(text)
                kinds = sorted({str(s["type"]) for s in spans})
                records.append(
                    {
                        "id": f"pii-{len(records) + 1:04d}",
                        "text": text,
                        "pii": spans,
                        "category": "+".join(kinds) if kinds else "lookalike",
                        "split": "eval",
                    }
                )
    return records
