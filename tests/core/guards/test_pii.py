"""``find_pii`` and ``pii_result``: what each detector finds (exactly where), the look-alikes
none of them may take, overlaps, narrowing by type, and the reason's wording."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.guards import PII_TYPES, GuardName, checksums, find_pii, pii_result


def _found(text: str, types: list[str] | None = None) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text, types)]


def _aadhaar() -> str:
    body = "23456789012"
    digits = next(body + d for d in "0123456789" if checksums.verhoeff_valid(body + d))
    return f"{digits[:4]} {digits[4:8]} {digits[8:]}"


# (text before, the value, its kind): the value must be found exactly, and nothing else.
POSITIVES = [
    ("write to ", "jane.doe+news@example.co.uk", "email"),
    ("contact: ", "josé@correo.es", "email"),
    ("mail ", "zoë@exämple.de", "email"),
    ("call ", "+1 (415) 555-2671", "phone"),
    ("call ", "+14155552671", "phone"),  # E.164 without spaces
    ("toll free ", "1-800-555-0199", "phone"),
    ("office ", "415.555.2671", "phone"),
    ("office ", "(212) 555 0123", "phone"),
    ("London ", "020 7946 0958", "phone"),
    ("London ", "+44 20 7946 0958", "phone"),
    ("mobile ", "07700 900123", "phone"),
    ("Berlin ", "+49 (0)30 12345678", "phone"),
    ("Berlin ", "030/1234567", "phone"),
    ("Handy ", "0151 12345678", "phone"),
    ("Paris ", "01 23 45 67 89", "phone"),
    ("portable ", "06-12-34-56-78", "phone"),
    ("Paris ", "+33 1 23 45 67 89", "phone"),
    ("from abroad ", "0044 20 7946 0958", "phone"),  # 00 and the country code
    ("TEL ", "020 7946 0958", "phone"),
    ("card ", "4111 1111 1111 1111", "card"),
    ("card ", "4111-1111-1111-1111", "card"),
    ("card ", "5555555555554444", "card"),
    ("card ", "2223 0031 2200 3222", "card"),
    ("amex ", "3782 822463 10005", "card"),
    ("amex ", "378282246310005", "card"),
    ("discover ", "6011 1111 1111 1117", "card"),
    ("jcb ", "3530111333300000", "card"),
    ("diners ", "3056 930902 5904", "card"),
    ("pay to ", "DE89 3704 0044 0532 0130 00", "iban"),
    ("pay to ", "GB82WEST12345698765432", "iban"),
    ("pay to ", "FR14 2004 1010 0505 0001 3M02 606", "iban"),
    ("pay to ", "NL91 ABNA 0417 1643 00", "iban"),
    ("SSN ", "078-05-1120", "national_id"),
    ("my ssn is ", "123456789", "national_id"),
    ("social security number ", "123 45 6789", "national_id"),
    ("BSN ", "111222333", "national_id"),
    ("burgerservicenummer: ", "123456782", "national_id"),
    ("NI number ", "AB 12 34 56 C", "national_id"),
    ("NINO ", "JG103759A", "national_id"),
    ("DNI ", "12345678Z", "national_id"),
    ("NIE ", "X1234567L", "national_id"),
    ("NIR ", "1 84 12 76 451 089 46", "national_id"),
    ("numéro de sécurité sociale ", "255081416802538", "national_id"),
    ("Aadhaar ", _aadhaar(), "national_id"),
    ("server ", "192.168.1.1", "ip"),
    ("dns ", "8.8.8.8", "ip"),
    ("host ", "2001:db8::1", "ip"),
    ("loopback ", "::1", "ip"),
    ("link-local ", "fe80::1%eth0", "ip"),
    ("mapped ", "::ffff:192.0.2.1", "ip"),
    ("full ", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ip"),
]


@pytest.mark.parametrize(("before", "value", "kind"), POSITIVES)
def test_each_detector_finds_its_value_exactly(before: str, value: str, kind: str) -> None:
    text = f"{before}{value}, thanks."
    assert _found(text) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        # dates and times
        "Released on 2024-01-15 at 10:30:00.",
        "Meet on 01.02.2024 or 15/01/2024, 14:30.",
        "Logged 2024-01-15T10:30:00Z and 05/12/2023 14:00:59.",
        # order, invoice and reference numbers
        "Order #123456789012 shipped; invoice 2024-000123-7.",
        "Order number 1234567890123456 (no issuer's range).",
        "ref 111222333 and account 123456789",  # valid BSN and SSN shapes, no word for them
        "extension 4155552671",  # a bare run of digits
        "room 0201234567",
        # version strings
        "Upgrade from version 1.2.3 to v2.10.0 (Python 3.11.7, build 10.0.19041.1).",
        "version 1.2.3.4 is out",
        # identifiers that are not secrets
        "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 (short 3f2a9c1)",
        "request id 550e8400-e29b-41d4-a716-446655440000",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        # prices and amounts
        "It costs $1,234.56, € 1.234,56 or USD 12,345,678.90.",
        # ISBNs
        "ISBN 978-3-16-148410-0, ISBN-10 0-306-40615-2, 9783161484100.",
        # coordinates, times, MAC addresses, code
        "coordinates 48.8566, 2.3522 at 12:30:45",
        "MAC 00:1A:2B:3C:4D:5E",
        "std::vector<int> v; impl cafe::face for X",
        # near misses of each scheme
        "card 4111 1111 1111 1112",  # fails Luhn
        "card 4111111111111112",
        "IBAN DE89 3704 0044 0532 0130 01",  # one digit changed
        "IBAN GB82 WEST 1234 5698 7654 33",
        "SSN 666-12-3456, 000-12-3456, 900-12-3456, 123-00-4567, 123-45-0000",
        "NINO QQ123456C",  # Q never starts one
        "DNI 12345678A",  # the wrong letter
        "NIR 1 84 12 76 451 089 47",  # the wrong key
        "IPs 256.1.1.1 and 1.2.3 and 1.2.3.4.5",
        # key-ish words next to values that are not random
        "password: hunter2",
        "token: the_quick_brown_fox_jumps_over",
        "api_key = YOUR_API_KEY_HERE_PLEASE",
        "the monkey 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d",
        "keyboard_shortcut_configuration_2024",
        "use sk-learn-is-a-python-library-for-ml",
        "price list: 0.99, 1.49, 2.99",
    ],
)
def test_look_alikes_are_not_pii(text: str) -> None:
    assert _found(text) == []


def test_a_luhn_failing_number_in_every_issuers_range_is_not_a_card() -> None:
    for number in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"):
        broken = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert _found(f"card {number}") == [("card", number)]
        assert _found(f"card {broken}") == []


def test_an_iban_with_any_one_digit_changed_is_not_an_iban() -> None:
    iban = "DE89 3704 0044 0532 0130 00"
    for i, c in enumerate(iban):
        if c.isdigit():
            changed = iban[:i] + str((int(c) + 1) % 10) + iban[i + 1 :]
            assert "iban" not in {k for k, _ in _found(f"IBAN {changed}")}


def test_weak_formats_need_their_word_nearby() -> None:
    aadhaar = _aadhaar()
    assert _found(f"number {aadhaar}") == []
    assert _found(f"my aadhaar is {aadhaar}") == [("national_id", aadhaar)]
    assert _found("id 111222333") == []
    assert _found("id 111222333 (BSN)") == [("national_id", "111222333")]
    far = "ssn" + " filler" * 20 + " 123456789"
    assert _found(far) == []


def test_numbers_inside_longer_numbers_or_words_are_not_taken() -> None:
    assert _found("x192.168.1.1") == []
    assert _found("10.192.168.1.1") == []
    assert _found("A078-05-1120") == []
    assert _found("54111111111111111111111") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an email whose local part is a card number: the longer span wins
        ("4111111111111111@example.com", [("email", "4111111111111111@example.com")]),
        # an IBAN's digits have phone shapes; the IBAN is longer and checked
        ("DE89 3704 0044 0532 0130 00", [("iban", "DE89 3704 0044 0532 0130 00")]),
        # a card and a phone side by side stay two
        (
            "4111 1111 1111 1111 or +44 20 7946 0958",
            [("card", "4111 1111 1111 1111"), ("phone", "+44 20 7946 0958")],
        ),
        # several of a kind, sorted by position
        (
            "a@b.io, c@d.io and e@f.io",
            [("email", "a@b.io"), ("email", "c@d.io"), ("email", "e@f.io")],
        ),
    ],
)
def test_overlaps_resolve_to_the_longest(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_types_narrow_the_search() -> None:
    text = "mail a@example.com, card 4111 1111 1111 1111, ip 10.0.0.1"
    assert _found(text, ["email"]) == [("email", "a@example.com")]
    assert _found(text, ["card", "ip"]) == [("card", "4111 1111 1111 1111"), ("ip", "10.0.0.1")]
    assert find_pii(text, []) == ()
    assert len(find_pii(text)) == 3


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown PII types"):
        find_pii("x", ["emails"])


def test_pii_result_names_kinds_and_counts_never_values() -> None:
    text = "a@example.com, b@example.com, 4111 1111 1111 1111"
    result = pii_result(text)
    assert result.guard is GuardName.PII
    assert result.hit
    assert result.reason == "found 3 PII or secret spans: card (1), email (2)"
    assert "example" not in result.reason and "4111" not in result.reason
    assert result.score == max(s.score for s in result.spans)
    assert len(result.spans) == 3


def test_pii_result_without_pii() -> None:
    result = pii_result("nothing to see here, version 1.2.3")
    assert not result.hit
    assert result.score == 0.0
    assert result.spans == ()
    assert result.reason == ""


_FILLER = st.sampled_from(
    ["the", "order", "ships", "on", "2024-01-15", "v1.2.3", "$12.50", "(see below)", "and", "x"]
)


_PARTS = st.one_of(
    _FILLER.map(lambda w: (w, "", None)),
    st.sampled_from([(b, v, k) for b, v, k in POSITIVES]).map(lambda p: (p[0], p[1], p[2])),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_PARTS, max_size=12))
def test_values_embedded_in_filler_are_found_sorted_and_apart(
    parts: list[tuple[str, str, str | None]],
) -> None:
    text = ""
    expected: list[tuple[str, str]] = []
    for before, value, kind in parts:
        text += f" {before}{value} ;"
        if kind is not None:
            expected.append((kind, value))
    spans = find_pii(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert {s.kind for s in spans} <= PII_TYPES
    assert _found(text) == expected
