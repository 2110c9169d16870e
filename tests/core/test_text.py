"""What no id, name or filter may hold (``storable``), how an audit value holding it is
written down (``clean``), and what body text may still hold (``encodable``): decision 0037."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from aiplane.core.text import clean, encodable, storable

# Every control character (Unicode's Cc: C0, DEL, C1), the line and paragraph separators,
# and the lone surrogates (Cs).
REFUSED_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}


def test_every_control_character_and_separator_is_unstorable_and_nothing_else() -> None:
    refused = {c for c in map(chr, range(sys.maxunicode + 1)) if not storable(c)}
    expected = {
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if unicodedata.category(c) in REFUSED_CATEGORIES
    }
    assert refused == expected


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("a\x00b", "a\\x00b"),
        ("a\nb", "a\\x0ab"),
        ("a\x7fb", "a\\x7fb"),  # DEL
        ("a\x85b", "a\\x85b"),  # NEL: a line break to many log readers
        ("a\x9b31mb", "a\\x9b31mb"),  # CSI: a terminal escape
        ("a\u2028b\u2029", "a\\u2028b\\u2029"),
        ("a\ud800", "a\\ud800"),
    ],
)
def test_clean_writes_each_refused_character_as_its_escape(text: str, written: str) -> None:
    assert not storable(text)
    assert clean(text) == written
    assert storable(clean(text))


@pytest.mark.parametrize(
    "text", ["plain", "café", "名前", "x\u00a0y", "\U0001f680", "ünï\u200bcode"]
)
def test_printable_text_is_storable_and_kept_as_it_is(text: str) -> None:
    assert storable(text)
    assert clean(text) == text


@pytest.mark.parametrize("text", ["echo a\n\techo b\r\n", "a\x85b", "a\u2028b", "\x1b[31m", "\x7f"])
def test_body_text_may_hold_every_control_but_nul(text: str) -> None:
    # A command or an env value: line breaks and the rest are the user's business.
    assert encodable(text)


@pytest.mark.parametrize("text", ["a\x00", "\ud800", "x\udfff"])
def test_body_text_may_not_hold_a_nul_or_a_lone_surrogate(text: str) -> None:
    assert not encodable(text)
