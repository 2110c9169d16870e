"""Redaction: typed placeholders that keep the text readable, and the sealed originals that
only the key's holder can put back."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.guards import Span, find_pii, redact, restore

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NONCE = bytes(12)
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_each_span_becomes_a_typed_placeholder_numbered_per_kind() -> None:
    text = "Mail ann@example.com or bob@example.com, card 4111 1111 1111 1111."
    out = redact(text, find_pii(text))
    assert out.text == "Mail [EMAIL_1] or [EMAIL_2], card [CARD_1]."
    assert out.sealed is None
    assert [out.text[s.start : s.end] for s in out.spans] == ["[EMAIL_1]", "[EMAIL_2]", "[CARD_1]"]
    assert [s.kind for s in out.spans] == ["email", "email", "card"]


def test_the_same_value_is_the_same_placeholder() -> None:
    text = "ann@example.com wrote to bob@example.com; ann@example.com again"
    out = redact(text, find_pii(text))
    assert out.text == "[EMAIL_1] wrote to [EMAIL_2]; [EMAIL_1] again"


def test_kinds_with_underscores_and_odd_names_make_valid_placeholders() -> None:
    text = "key AKIAIOSFODNN7EXAMPLE, id 078-05-1120, x"
    spans = [*find_pii(text), Span(len(text) - 1, len(text), "custom kind!")]
    assert redact(text, spans).text == "key [API_KEY_1], id [NATIONAL_ID_1], [CUSTOM_KIND_1]"


def test_round_trip_with_unicode() -> None:
    text = "Zoë (zoë@exämple.de, 📞 +49 30 12345678) schreibt an 李 <li@example.cn> — ça va?"
    out = redact(text, find_pii(text), KEY, NONCE)
    assert "zoë@" not in out.text and "12345678" not in out.text and "li@" not in out.text
    assert "Zoë" in out.text and "📞" in out.text and "李" in out.text
    assert out.sealed is not None
    assert restore(out.text, out.sealed, KEY) == text


def test_the_seal_is_compact_url_safe_and_versioned() -> None:
    text = "ann@example.com"
    sealed = redact(text, find_pii(text), KEY, NONCE).sealed
    assert sealed is not None
    version, _, body = sealed.partition(".")
    assert version == "r1"
    assert set(body) <= set(_B64)
    # nonce + tag + the JSON of one placeholder and its value, nothing else
    assert len(base64.urlsafe_b64decode(body + "==")) == 12 + 16 + len(
        '{"[EMAIL_1]":"ann@example.com"}'
    )
    assert "ann" not in sealed


def test_a_wrong_key_or_an_altered_seal_is_refused() -> None:
    text = "ann@example.com"
    sealed = redact(text, find_pii(text), KEY, NONCE).sealed
    assert sealed is not None
    with pytest.raises(ValueError, match="does not open"):
        restore("[EMAIL_1]", sealed, OTHER_KEY)
    # Every character after the prefix, changed in its top bit (always data, never the
    # last character's spare bits): the tag no longer verifies.
    for i in range(3, len(sealed)):
        flipped = _B64[(_B64.index(sealed[i]) + 32) % 64]
        with pytest.raises(ValueError, match="does not open"):
            restore("[EMAIL_1]", sealed[:i] + flipped + sealed[i + 1 :], KEY)
    with pytest.raises(ValueError, match="prefix"):
        restore("[EMAIL_1]", "r2" + sealed[2:], KEY)
    with pytest.raises(ValueError, match="too short"):
        restore("[EMAIL_1]", sealed[:23], KEY)  # 15 bytes: under nonce + tag
    with pytest.raises(ValueError, match="base64"):
        restore("[EMAIL_1]", "r1.!!!!", KEY)


def test_placeholders_the_text_lost_are_skipped_and_repeated_ones_all_restored() -> None:
    text = "ann@example.com and 4111 1111 1111 1111"
    out = redact(text, find_pii(text), KEY, NONCE)
    assert out.sealed is not None
    answer = "I will not use [CARD_1]. Writing to [EMAIL_1], cc [EMAIL_1]."
    assert restore(answer, out.sealed, KEY) == (
        "I will not use 4111 1111 1111 1111. Writing to ann@example.com, cc ann@example.com."
    )
    assert restore("nothing left", out.sealed, KEY) == "nothing left"


def test_only_exact_placeholders_are_restored() -> None:
    text = "ann@example.com"
    out = redact(text, find_pii(text), KEY, NONCE)
    assert out.sealed is not None
    changed = "[email_1] [EMAIL 1] [EMAIL_01] EMAIL_1 [EMAIL_2] [EMAIL_1]"
    assert restore(changed, out.sealed, KEY) == (
        "[email_1] [EMAIL 1] [EMAIL_01] EMAIL_1 [EMAIL_2] ann@example.com"
    )


def test_a_placeholder_the_text_already_carries_is_not_reused() -> None:
    text = "The template says [EMAIL_1]; the user is ann@example.com"
    out = redact(text, find_pii(text), KEY, NONCE)
    assert out.text == "The template says [EMAIL_1]; the user is [EMAIL_2]"
    assert out.sealed is not None
    assert restore(out.text, out.sealed, KEY) == text


def test_overlapping_spans_are_merged_so_nothing_shows() -> None:
    text = "secret value: ABCDEFGHIJ"
    out = redact(text, [Span(14, 20, "api_key"), Span(17, 24, "api_key")], KEY, NONCE)
    assert out.text == "secret value: [API_KEY_1]"
    assert out.sealed is not None
    assert restore(out.text, out.sealed, KEY) == text


def test_unsorted_spans_and_empty_ones() -> None:
    text = "a@b.io then c@d.io"
    spans = [*reversed(find_pii(text)), Span(5, 5, "email")]
    assert redact(text, spans).text == "[EMAIL_1] then [EMAIL_2]"
    assert redact(text, []).text == text


@pytest.mark.parametrize(
    ("key", "nonce", "message"),
    [
        (KEY, None, "both a key and a nonce"),
        (None, NONCE, "both a key and a nonce"),
        (KEY[:16], NONCE, "32 bytes"),
        (KEY, NONCE[:8], "12 bytes"),
    ],
)
def test_sealing_needs_a_full_key_and_nonce(
    key: bytes | None, nonce: bytes | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        redact("a@b.io", find_pii("a@b.io"), key, nonce)


def test_a_span_outside_the_text_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        redact("short", [Span(2, 10, "email")])
    with pytest.raises(ValueError, match="32 bytes"):
        restore("x", "r1.AAAA", KEY[:5])


def test_different_nonces_give_different_seals_of_the_same_values() -> None:
    text = "ann@example.com"
    a = redact(text, find_pii(text), KEY, bytes(12)).sealed
    b = redact(text, find_pii(text), KEY, bytes([1]) + bytes(11)).sealed
    assert a is not None and b is not None and a != b
    assert restore("[EMAIL_1]", a, KEY) == restore("[EMAIL_1]", b, KEY) == text


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
            st.sampled_from(["ann@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"]),
        ),
        max_size=8,
    )
)
def test_round_trip_of_anything(parts: list[str]) -> None:
    text = " ".join(parts)
    out = redact(text, find_pii(text), KEY, NONCE)
    assert out.sealed is not None
    assert restore(out.text, out.sealed, KEY) == text
