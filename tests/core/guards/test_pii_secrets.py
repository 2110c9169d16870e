"""API keys, tokens and private keys: the providers' formats, random values next to a key-ish
word, PEM and OpenSSH blocks; and what is not a secret (hashes, UUIDs, words)."""

from __future__ import annotations

import random
import string

import pytest

from aiplane.core.guards import find_pii
from aiplane.core.guards.credentials import entropy_floor, looks_random, shannon_entropy

_RNG = random.Random(20261204)
_ALNUM = string.ascii_letters + string.digits


def _random(n: int, alphabet: str = _ALNUM) -> str:
    while True:
        token = "".join(_RNG.choice(alphabet) for _ in range(n))
        # Draws that happen to lack a digit or a case would test the draw, not the code.
        mixed = any(c.isdigit() for c in token) and any(c.isupper() for c in token)
        if mixed and (any(c.islower() for c in token) or alphabet != _ALNUM):
            return token


def _keys(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text)]


KNOWN = [
    "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example
    "ASIA" + _random(16, string.ascii_uppercase + string.digits),
    "ghp_" + _random(36),
    "gho_" + _random(36),
    "ghs_" + _random(36),
    "github_pat_11" + _random(20) + "_" + _random(59),
    "glpat-" + _random(20),
    "xoxb-123456789012-1234567890123-" + _random(24),
    "xoxp-" + _random(40),
    "sk_live_" + _random(24),
    "rk_live_" + _random(24),
    "sk-" + _random(48),
    "sk-proj-" + _random(48) + "-" + _random(20),
    "sk-ant-api03-" + _random(80) + "-" + _random(6) + "AA",
    "AIza" + _random(35),
    (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    ),
]


@pytest.mark.parametrize("key", KNOWN)
def test_known_formats_are_api_keys_wherever_they_stand(key: str) -> None:
    for text in (key, f"use {key} here", f'{{"value": "{key}"}}', f"export X={key}\n"):
        assert _keys(text) == [("api_key", key)]


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPL",  # one short
        "XAKIAIOSFODNN7EXAMPLE",  # inside a longer token
        "AKIAIOSFODNN7EXAMPLEX",
        "ghp_short",
        "glpat-short",
        "sk-learn-is-the-library-for-this",  # hyphenated words, no digits, no capitals
        "sk_live_",
        "eyJhbGciOiJIUzI1NiJ9",  # a JWT's header alone
    ],
)
def test_prefixes_without_their_formats_are_not_keys(text: str) -> None:
    assert _keys(f"see {text} here") == []


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('api_key = "', '"'),
        ("API_KEY=", ""),
        ("Authorization: Bearer ", ""),
        ("access_token: ", ""),
        ("client_secret => '", "'"),
        ('{"password": "', '"}'),
        ("the secret is ", "."),
        ("credentials ", ""),
        ("auth=", "&next=1"),
    ],
)
def test_random_values_next_to_a_key_word_are_api_keys(before: str, after: str) -> None:
    value = _random(32)
    assert _keys(f"{before}{value}{after}") == [("api_key", value)]


def test_aws_secret_keys_and_hex_tokens_next_to_a_key_word_are_keys() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example
    assert _keys(f"aws_secret_access_key = {secret}") == [("api_key", secret)]
    hex_token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
    # GitHub's tokens were 40 hex characters: next to "token", hex is a token.
    assert _keys(f"token: {hex_token}") == [("api_key", hex_token)]


@pytest.mark.parametrize(
    "text",
    [
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",  # a bare git SHA
        "request 123e4567-e89b-12d3-a456-426614174000",  # a bare UUID
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "data " + "".join(random.Random(5).choice(_ALNUM) for _ in range(40)),  # no key word
        "api_key = YOUR_API_KEY_GOES_RIGHT_HERE",  # a placeholder, not a value
        "token: the_quick_brown_fox_jumps_over_it",
        "password: hunter2",  # too short to tell from a word
        "secret = getSecretFromTheVaultHelper",
        "the keyboard_layout_configuration_v2 file",
        "monkey: " + "Zq8r2LmX9vTp4WsY7nKd3Hf1",  # ``key`` inside another word
        "tokenXq8Zr2LmX9vTp4WsY7nKd3Hf",  # glued to the word: one identifier
    ],
)
def test_what_is_not_a_key(text: str) -> None:
    assert _keys(text) == []


def test_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaaaaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy("aabb") == pytest.approx(1.0)


def test_the_entropy_floor_keeps_random_tokens_of_every_alphabet() -> None:
    rng = random.Random(7)
    for alphabet, n in ((_ALNUM, 20), (_ALNUM, 40), ("0123456789abcdef", 32), (_ALNUM + "+/", 40)):
        draws = ["".join(rng.choice(alphabet) for _ in range(n)) for _ in range(500)]
        kept = sum(shannon_entropy(t) >= entropy_floor(t) for t in draws)
        assert kept >= 490, (alphabet, n, kept)
    assert shannon_entropy("ab12" * 8) < entropy_floor("ab12" * 8)


def test_looks_random_needs_length_letters_digits_and_entropy() -> None:
    token = _random(24)
    assert looks_random(token)
    assert not looks_random(token[:19])
    assert not looks_random("".join(c for c in _random(40) if not c.isdigit()))
    assert not looks_random("1234567890" * 3)
    assert not looks_random("ab12" * 8)  # long, mixed, but four characters over and over


_BODY = "\n".join(_random(64, string.ascii_letters + string.digits + "+/") for _ in range(4))


@pytest.mark.parametrize(
    "label", ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]
)
def test_pem_private_key_blocks_begin_line_to_end_line(label: str) -> None:
    block = f"-----BEGIN {label}-----\n{_BODY}\n-----END {label}-----"
    text = f"here it is:\n{block}\nkeep it safe"
    assert _keys(text) == [("private_key", block)]


def test_openssh_and_pgp_private_keys() -> None:
    for begin, end in (
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "-----END PGP PRIVATE KEY BLOCK-----"),
    ):
        block = f"{begin}\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n{_BODY}\n{end}"
        assert _keys(f"key:\n{block}\n") == [("private_key", block)]


def test_a_private_key_inside_json_with_escaped_newlines() -> None:
    block = (
        "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----"
    )
    text = f'{{"private_key": "{block}", "client_email": "x@y.iam.gserviceaccount.com"}}'
    spans = _keys(text)
    assert ("private_key", block) in spans
    assert ("email", "x@y.iam.gserviceaccount.com") in spans
    assert len(spans) == 2  # the key-ish words inside the block add nothing


def test_a_block_cut_off_before_its_end_line_runs_to_the_end_of_its_body() -> None:
    cut = f"-----BEGIN RSA PRIVATE KEY-----\n{_BODY}"
    assert _keys(f"{cut}\n\n... (truncated)") == [("private_key", cut)]


def test_public_keys_and_certificates_are_not_private_keys() -> None:
    for label in ("PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"):
        assert _keys(f"-----BEGIN {label}-----\n{_BODY}\n-----END {label}-----") == []
