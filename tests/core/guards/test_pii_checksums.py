"""The check digits and allocation rules behind the PII detectors, against published
examples and the error-detection properties each scheme is built to have."""

from __future__ import annotations

import random

import pytest

from aiplane.core.guards import checksums

# Published test card numbers (the card schemes' and payment processors' documentation).
CARDS = [
    ("4111111111111111", "visa"),
    ("4012888888881881", "visa"),
    ("4222222222222", "visa"),  # 13 digits
    ("5555555555554444", "mastercard"),
    ("5105105105105100", "mastercard"),
    ("2223003122003222", "mastercard"),  # the 2-series
    ("378282246310005", "amex"),
    ("371449635398431", "amex"),
    ("6011111111111117", "discover"),
    ("6011000990139424", "discover"),
    ("3530111333300000", "jcb"),
    ("3566002020360505", "jcb"),
    ("30569309025904", "diners"),
    ("38520000023237", "diners"),
    ("6200000000000005", "unionpay"),
]


@pytest.mark.parametrize(("number", "brand"), CARDS)
def test_published_test_cards_pass_luhn_and_have_their_brand(number: str, brand: str) -> None:
    assert checksums.luhn_valid(number)
    assert checksums.card_brand(number) == brand


@pytest.mark.parametrize(("number", "_brand"), CARDS)
def test_luhn_catches_every_single_digit_error(number: str, _brand: str) -> None:
    for i, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                assert not checksums.luhn_valid(number[:i] + other + number[i + 1 :])


@pytest.mark.parametrize(
    "number",
    [
        "1234567890123452",  # passes Luhn, but 1 is no issuer's range
        "9999999999999995",  # passes Luhn, 9 is no issuer's
        "411111111111111",  # Visa's range, 15 digits: Visa has none of that length
        "34343434343434",  # Amex's range, 14 digits (Amex has 15)
        "5555555555554",  # Mastercard's range, 13 digits
    ],
)
def test_numbers_outside_an_issuers_range_or_length_have_no_brand(number: str) -> None:
    assert checksums.card_brand(number) is None


# Full-width digits are digits to str.isdigit, not to a card scheme.
@pytest.mark.parametrize("value", ["", "4111-1111", "\uff14" + "\uff11" * 15, "abc"])
def test_luhn_and_brand_refuse_what_is_not_ascii_digits(value: str) -> None:
    assert not checksums.luhn_valid(value)
    assert checksums.card_brand(value) is None


# Published examples (the ECBS and the banks' own).
IBANS = [
    "GB82WEST12345698765432",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "ES9121000418450200051332",
    "BE68539007547034",
    "CH9300762011623852957",
    "NO9386011117947",
    "IT60X0542811101000000123456",
]


@pytest.mark.parametrize("iban", IBANS)
def test_published_ibans_pass(iban: str) -> None:
    assert checksums.iban_valid(iban)
    assert checksums.iban_valid(iban.lower())


@pytest.mark.parametrize("iban", IBANS)
def test_mod97_catches_every_single_digit_change_and_adjacent_swap(iban: str) -> None:
    for i in range(2, len(iban)):
        if not iban[i].isdigit():
            continue
        for other in "0123456789":
            if other != iban[i]:
                assert not checksums.iban_valid(iban[:i] + other + iban[i + 1 :])
        if i + 1 < len(iban) and iban[i + 1].isdigit() and iban[i + 1] != iban[i]:
            swapped = iban[:i] + iban[i + 1] + iban[i] + iban[i + 2 :]
            assert not checksums.iban_valid(swapped)


@pytest.mark.parametrize(
    "iban",
    [
        "GB82WEST1234569876543",  # one character short for GB
        "GB82WEST123456987654321",  # one too many
        "QQ82WEST12345698765432",  # no such country
        "GBXXWEST12345698765432",  # check digits not digits
        "DE89-3704-0044-0532-0130-00",  # separators are the caller's to strip
    ],
)
def test_wrong_length_country_or_shape_is_no_iban(iban: str) -> None:
    assert not checksums.iban_valid(iban)


def test_every_iban_length_is_within_the_standards_bounds() -> None:
    assert checksums.IBAN_LENGTHS["DE"] == 22
    assert checksums.IBAN_LENGTHS["NO"] == 15
    assert all(15 <= n <= 34 for n in checksums.IBAN_LENGTHS.values())


def _verhoeff_by_group(digits: str) -> bool:
    """Verhoeff's check from the dihedral group D5 and the permutation's cycle, computed
    without the tables the module uses."""

    def mul(a: int, b: int) -> int:
        if a < 5 and b < 5:
            return (a + b) % 5
        if a < 5:
            return 5 + (a + b) % 5
        if b < 5:
            return 5 + (a - b) % 5
        return (a - b) % 5

    cycle = {0: 1, 1: 5, 2: 7, 3: 6, 4: 2, 5: 8, 6: 3, 7: 0, 8: 9, 9: 4}

    def perm(i: int, d: int) -> int:
        for _ in range(i % 8):
            d = cycle[d]
        return d

    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = mul(c, perm(i, int(ch)))
    return c == 0


def test_verhoeff_agrees_with_the_group_definition_on_random_numbers() -> None:
    rng = random.Random(13)
    numbers = ["".join(rng.choice("0123456789") for _ in range(12)) for _ in range(2000)]
    assert any(_verhoeff_by_group(n) for n in numbers)  # the sample holds valid ones too
    for n in numbers:
        assert checksums.verhoeff_valid(n) == _verhoeff_by_group(n)


def test_verhoeff_published_example_and_its_errors() -> None:
    assert checksums.verhoeff_valid("2363")  # Verhoeff's own worked example: 236 -> 3
    for wrong in ("2364", "2336", "3263", "2633"):
        assert not checksums.verhoeff_valid(wrong)


def _with_verhoeff_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if _verhoeff_by_group(body + d))


def test_aadhaar_needs_verhoeff_and_a_first_digit_from_2() -> None:
    valid = _with_verhoeff_digit("23456789012")
    assert checksums.aadhaar_valid(valid)
    assert not checksums.aadhaar_valid(valid[:-1] + str((int(valid[-1]) + 1) % 10))
    assert not checksums.aadhaar_valid(_with_verhoeff_digit("12345678901"))  # starts with 1
    assert not checksums.aadhaar_valid(_with_verhoeff_digit("0234567890"))  # 11 digits


@pytest.mark.parametrize("bsn", ["111222333", "123456782"])
def test_bsn_eleven_test(bsn: str) -> None:
    assert checksums.bsn_valid(bsn)
    for i in range(9):
        for other in "0123456789":
            if other != bsn[i]:
                assert not checksums.bsn_valid(bsn[:i] + other + bsn[i + 1 :])


def test_bsn_refuses_all_zeros_and_wrong_lengths() -> None:
    assert not checksums.bsn_valid("000000000")
    assert not checksums.bsn_valid("11122233")
    assert not checksums.bsn_valid("1112223330")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("12345678Z", True),  # 12345678 mod 23 = 14: Z
        ("12345678z", True),
        ("12345678A", False),
        ("X1234567L", True),  # NIE: X counts as 0
        ("Y1234567X", True),  # Y counts as 1: 11234567 mod 23 = 10: X
        ("Z1234567R", True),  # Z counts as 2: 21234567 mod 23 = 1: R
        ("X1234567M", False),
        ("W1234567L", False),  # no such NIE prefix
        ("1234567Z", False),  # too short
    ],
)
def test_dni_and_nie_letters(value: str, valid: bool) -> None:
    assert checksums.dni_valid(value) is valid


@pytest.mark.parametrize(
    ("nir", "valid"),
    [
        ("184127645108946", True),  # the NIR's textbook example, key 46
        ("255081416802538", True),
        ("184127645108947", False),
        ("184127645108964", False),
        ("584127645108946", False),  # no such first digit
        ("184007645108946", False),  # no month 00
    ],
)
def test_nir_key(nir: str, valid: bool) -> None:
    assert checksums.nir_valid(nir) is valid


def test_nir_corsica_counts_2a_as_19_and_2b_as_18() -> None:
    for dept, stands_for in (("2A", "19"), ("2B", "18")):
        body = f"18412{stands_for}451089"
        key = f"{97 - int(body) % 97:02d}"
        assert checksums.nir_valid(f"18412{dept}451089{key}")
        assert not checksums.nir_valid(f"18412{dept}451089{(int(key) + 1) % 100:02d}")


@pytest.mark.parametrize(
    ("area", "group", "serial", "valid"),
    [
        ("078", "05", "1120", True),
        ("123", "45", "6789", True),
        ("000", "12", "3456", False),
        ("666", "12", "3456", False),
        ("900", "12", "3456", False),
        ("999", "12", "3456", False),
        ("123", "00", "4567", False),
        ("123", "45", "0000", False),
        ("12a", "45", "6789", False),
    ],
)
def test_ssn_allocation_rules(area: str, group: str, serial: str, valid: bool) -> None:
    assert checksums.ssn_valid(area, group, serial) is valid


@pytest.mark.parametrize(
    ("nino", "valid"),
    [
        ("AB123456C", True),
        ("ab123456c", True),
        ("JG103759A", True),
        ("QQ123456C", False),  # Q never starts one (HMRC's example numbers use it)
        ("DA123456C", False),  # nor D
        ("AO123456C", False),  # O is never second
        ("GB123456C", False),  # barred pairs
        ("NK123456C", False),
        ("AB123456E", False),  # suffix A-D
        ("AB12345C", False),
    ],
)
def test_nino_prefix_and_suffix_rules(nino: str, valid: bool) -> None:
    assert checksums.nino_valid(nino) is valid
