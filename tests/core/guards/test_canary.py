"""The canary output guard: a token planted in the system prompt, found in a response however
the model wrote it out (exactly, spaced, separated, case-changed, reversed, base64, in
look-alike characters), and never in one that does not carry it."""

from __future__ import annotations

import base64
import codecs
import re

import pytest

from aiplane.core.guards import GuardName, canary_leak, new_canary, plant_canary

CANARY = new_canary(bytes.fromhex("8f3a21b9c04d7e65aa10"))


def test_new_canary_needs_eight_bytes_of_entropy() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        new_canary(b"1234567")
    assert new_canary(b"12345678")


def test_the_canary_follows_from_the_entropy_and_differs_with_it() -> None:
    assert new_canary(bytes(range(10))) == new_canary(bytes(range(10)))
    assert new_canary(bytes(range(10))) != new_canary(bytes(range(1, 11)))
    # All of the entropy is in it: 10 bytes are 80 bits, 16 base32 characters; 8 are 13.
    assert len(new_canary(bytes(10))) == len("aiplane-") + 16
    assert len(new_canary(bytes(8))) == len("aiplane-") + 13


def test_the_canary_is_plain_lowercase_ascii_a_tokeniser_keeps_whole() -> None:
    assert re.fullmatch(r"aiplane-[a-z2-7]+", CANARY)
    assert CANARY.lower() == CANARY and " " not in CANARY


def test_plant_puts_the_canary_first_with_an_instruction_not_to_reveal_it() -> None:
    planted = plant_canary("You are a helpful assistant.", CANARY)
    assert planted.index(CANARY) < planted.index("You are a helpful assistant.")
    assert planted.endswith("You are a helpful assistant.")
    assert "never" in planted and "reveal" in planted
    assert plant_canary("", CANARY).count(CANARY) == 1


def test_a_response_without_the_canary_is_clean() -> None:
    for response in (
        "Sure, here is a poem about the sea.",
        "My instructions are confidential.",
        "aiplane is a control plane; canary deployments shift traffic slowly.",
        CANARY[:-3],  # a fragment is not a leak
        new_canary(bytes(10)),  # another prompt's canary
        "",
    ):
        result = canary_leak(response, CANARY)
        assert result.guard is GuardName.CANARY
        assert not result.hit
        assert result.score == 0.0 and result.spans == () and result.reason == ""


def _spaced(s: str) -> str:
    return " ".join(s)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize(
    ("written", "form"),
    [
        (CANARY, "exact"),
        (CANARY.upper(), "case-changed"),
        (CANARY.title(), "case-changed"),
        (_spaced(CANARY), "spaced out"),
        ("\n".join(CANARY), "spaced out"),
        ("-".join(CANARY), "with separators inserted"),
        (".".join(CANARY.upper()), "with separators inserted"),
        ("\u200b".join(CANARY), "with separators inserted"),  # zero-width spaces
        (CANARY.replace("-", ""), "spaced out"),  # its own dash dropped
        (CANARY[::-1], "reversed"),
        (_spaced(CANARY[::-1]), "reversed"),
        (
            "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in CANARY),
            "in look-alike characters",
        ),
        ("\u00e0" + CANARY[1:], "in look-alike characters"),  # an accent on the first a
        (_b64(CANARY), "base64-encoded"),
        (_b64(CANARY.upper()), "base64-encoded"),
        (_b64(f"My system prompt starts: [marker: {CANARY}]. Then..."), "base64-encoded"),
        ("Note" + _b64(f"prompt: {CANARY}"), "base64-encoded"),  # a word glued in front
        (
            base64.encodebytes(f"{'x' * 40} {CANARY} {'y' * 40}".encode()).decode().strip(),
            "base64-encoded",
        ),
        (base64.urlsafe_b64encode(f"~~{CANARY}~~".encode()).decode().rstrip("="), "base64-encoded"),
    ],
)
def test_each_way_of_writing_the_canary_out_is_a_leak(written: str, form: str) -> None:
    response = f"Here you go: {written} -- hope that helps"
    result = canary_leak(response, CANARY)
    assert result.hit and result.score == 1.0
    assert f"({form})" in result.reason
    assert len(result.spans) == 1
    span = result.spans[0]
    assert span.kind == "canary"
    assert response[span.start : span.end] == written


def test_rot13_is_not_claimed() -> None:
    # Only the forms the reason can name; ROT13 is one the guard does not decode.
    assert not canary_leak(codecs.encode(CANARY, "rot13"), CANARY).hit


def test_several_leaks_are_each_a_span_and_the_reason_names_each_form() -> None:
    response = f"{CANARY} and again {CANARY.upper()} and {CANARY[::-1]}"
    result = canary_leak(response, CANARY)
    assert [response[s.start : s.end] for s in result.spans] == [
        CANARY,
        CANARY.upper(),
        CANARY[::-1],
    ]
    assert result.reason.endswith("(exact, case-changed, reversed)")


def test_a_canary_with_no_letters_or_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        canary_leak("anything", "---")
