"""The guard data sets under data/guards/: reproducible, of the promised shapes and sizes, the
PII spans valid by their own checksums (checked here independently of the generator), and the
training pools disjoint from the evaluation sets."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "guards"
SCRIPT = ROOT / "scripts" / "guards" / "make_datasets.py"
SHARED_DEEPSET = ROOT.parent / "shared" / "data" / "prompt-injection" / "deepset-train.jsonl"

GENERATED = (
    "hard-negatives.jsonl",
    "indirect.jsonl",
    "pii-eval.jsonl",
    "train-benign.jsonl",
    "train-injection.jsonl",
    "train-indirect.jsonl",
)
EVAL = GENERATED[:3]
TRAIN = GENERATED[3:]
PII_TYPES = {"email", "phone", "card", "iban", "national_id", "ip", "api_key", "private_key"}
CARRIERS = {
    "email",
    "web_page",
    "table",
    "code",
    "tool_output",
    "retrieved_passage",
    "calendar_invite",
    "review",
}
GOALS = {"exfiltrate", "change_answer", "phishing", "leak_system_prompt", "tool_call"}
OBFUSCATIONS = {
    "none",
    "zero_width",
    "tag_chars",
    "homoglyph",
    "base64",
    "hex",
    "url_encoding",
    "rot13",
    "split_lines",
    "spaced_letters",
    "leetspeak",
    "markdown_html",
}


@cache
def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_running_the_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "7"},
    )
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


@pytest.mark.parametrize("name", [*GENERATED, "deepset-train.jsonl"])
def test_every_record_has_a_unique_id_and_the_split(name: str) -> None:
    records = load(name)
    if name == "deepset-train.jsonl":
        assert len(records) == 546
        assert all(set(r) == {"text", "label"} and r["label"] in (0, 1) for r in records)
        return
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert {r["split"] for r in records} == {"eval" if name in EVAL else "train"}
    assert all(isinstance(r["text"], str) and r["text"].strip() for r in records)
    assert len({r["text"] + r.get("context", "") for r in records}) == len(records)


def test_the_readme_names_each_file_with_its_count() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in [*GENERATED, "deepset-train.jsonl"]:
        row = re.search(rf"^\| `{re.escape(name)}` \| [^|]+ \| (\d+) \|", readme, re.MULTILINE)
        assert row is not None, name
        assert int(row.group(1)) == len(load(name)), name


def test_the_files_together_stay_small() -> None:
    assert sum(p.stat().st_size for p in DATA.glob("*.jsonl")) < 6_000_000


@pytest.mark.skipif(not SHARED_DEEPSET.exists(), reason="shared deepset data not present")
def test_deepset_is_copied_unchanged() -> None:
    assert (DATA / "deepset-train.jsonl").read_bytes() == SHARED_DEEPSET.read_bytes()


# --- hard negatives ------------------------------------------------------------------------


def test_hard_negatives_are_benign_and_each_holds_a_trigger() -> None:
    records = load("hard-negatives.jsonl")
    assert len(records) >= 400
    assert {r["label"] for r in records} == {0}
    for r in records:
        assert r["triggers"], r["text"]
        assert set(r) == {"id", "text", "label", "category", "lang", "triggers", "split"}
    langs = Counter(r["lang"] for r in records)
    assert langs["de"] >= 30 and langs["fr"] >= 10 and langs["es"] >= 10
    assert len({r["category"] for r in records}) >= 8
    # The trigger phrases the brief names occur, each in several prompts.
    triggers = Counter(t for r in records for t in r["triggers"])
    for t in (
        "ignore",
        "disregard",
        "forget",
        "override",
        "bypass",
        "jailbreak",
        "system prompt",
        "instructions",
        "pretend",
        "act as",
        "you are now",
        "developer mode",
        "DAN",
        "reveal",
        "password",
        "admin",
        "prompt injection",
        "ignore previous",
        "new instructions",
        "from now on",
    ):
        assert triggers[t] >= 2, t


def test_a_hard_negative_names_its_trigger_words_truthfully() -> None:
    words = {
        "ignore": "ignor",
        "password": "passw|passc|passwort|mot de passe|contraseña",
        "forget": "forg",
        "admin": "admin|root|sudo",
        "jailbreak": "jailbr",
    }
    for r in load("hard-negatives.jsonl"):
        for trigger, stems in words.items():
            if trigger in r["triggers"]:
                assert re.search(stems, r["text"], re.IGNORECASE), (trigger, r["text"])


# --- indirect --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["indirect.jsonl", "train-indirect.jsonl"])
def test_indirect_records_have_the_fields(name: str) -> None:
    for r in load(name):
        assert set(r) == {
            "id",
            "text",
            "context",
            "label",
            "category",
            "obfuscation",
            "goal",
            "split",
        }
        assert r["label"] in (0, 1)
        assert r["obfuscation"] in OBFUSCATIONS
        if r["label"] == 0:
            assert (r["goal"], r["obfuscation"]) == ("none", "none")
        else:
            assert r["goal"] in GOALS


def test_indirect_eval_covers_carriers_goals_and_obfuscations_in_balance() -> None:
    records = load("indirect.jsonl")
    attacks = [r for r in records if r["label"] == 1]
    benign = [r for r in records if r["label"] == 0]
    assert len(attacks) >= 300 and len(benign) >= 250
    assert 0.7 <= len(benign) / len(attacks) <= 1.3
    assert {r["category"] for r in attacks} == CARRIERS == {r["category"] for r in benign}
    assert {r["goal"] for r in attacks} == GOALS
    counts = Counter(r["obfuscation"] for r in attacks)
    assert set(counts) == OBFUSCATIONS
    assert counts["none"] < len(attacks) / 2  # most attacks are disguised
    assert all(n >= 5 for n in counts.values())


def _has(text: str, lo: int, hi: int) -> bool:
    return any(lo <= ord(c) <= hi for c in text)


def test_indirect_obfuscations_are_really_applied() -> None:
    checks = {
        "zero_width": lambda c: _has(c, 0x200B, 0x200F) or _has(c, 0x2060, 0x2064),
        "tag_chars": lambda c: _has(c, 0xE0000, 0xE007F),
        "homoglyph": lambda c: _has(c, 0x0370, 0x03FF) or _has(c, 0x0400, 0x04FF),
        # iCalendar escapes line breaks as a backslash and "n", which base64 would swallow.
        "base64": lambda c: any(
            _decodes(m) for m in re.findall(r"[A-Za-z0-9+/]{24,}={0,2}", c.replace("\\n", "\n"))
        ),
        "hex": lambda c: re.search(r"(?:[0-9a-f]{2} ?){16,}", c) is not None,
        "url_encoding": lambda c: len(re.findall(r"%[0-9A-F]{2}", c)) >= 4,
        "markdown_html": lambda c: any(
            s in c
            for s in (
                "<!--",
                "display:none",
                "alt=",
                "font-size:0",
                "font-size:1px",
                "hidden",
                'content="',
                '"]',
                '")',
                "[//]: #",
                "<details>",
                "opacity:0",
                'x.example/ "',
            )
        ),
    }
    for r in load("indirect.jsonl") + load("train-indirect.jsonl"):
        check = checks.get(r["obfuscation"])
        if check is not None and r["label"] == 1:
            assert check(r["context"]), (r["id"], r["obfuscation"])


def _decodes(blob: str) -> bool:
    try:
        text = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return sum(c.isprintable() for c in text) > 0.95 * len(text)


@pytest.mark.parametrize("name", ["indirect.jsonl", "train-indirect.jsonl"])
def test_benign_documents_also_hold_what_looks_like_a_disguise(name: str) -> None:
    """Base64, hex digests, other scripts and zero-width joiners occur in benign documents
    too, so their presence alone does not tell the label."""
    benign = [r["context"] for r in load(name) if r["label"] == 0]
    looks: dict[str, Callable[[str], bool]] = {
        "base64": lambda c: re.search(r"[A-Za-z0-9+/]{40,}", c) is not None,
        "hex": lambda c: re.search(r"[0-9a-f]{20,}", c) is not None,
        "url_encoding": lambda c: re.search(r"%[0-9A-F]{2}", c) is not None,
        "other_script": lambda c: _has(c, 0x0370, 0x04FF),
        "zero_width": lambda c: "\u200d" in c,
    }
    for kind, check in looks.items():
        assert sum(1 for c in benign if check(c)) >= 3, kind


def test_some_benign_documents_carry_trigger_words() -> None:
    benign = [r for r in load("indirect.jsonl") if r["label"] == 0]
    hard = [
        r
        for r in benign
        if re.search(
            r"ignor|disregard|forg[eo]t|override|bypass|admin|"
            r"jailbreak|prompt injection|instructions",
            r["context"],
            re.IGNORECASE,
        )
    ]
    assert len(hard) >= len(benign) // 4


# --- PII -------------------------------------------------------------------------------------


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def mod97(iban: str) -> bool:
    s = iban.replace(" ", "")
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def verhoeff(digits: str) -> bool:
    mult = (
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
    # The position permutations are the powers of the second one.
    perm = [list(range(10)), [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
    for i in range(2, 8):
        perm.append([perm[1][perm[i - 1][j]] for j in range(10)])
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = mult[c][perm[i % 8][int(ch)]]
    return c == 0


def national_id_ok(value: str) -> bool:
    compact = value.replace(" ", "").replace("-", "")
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", value) or (len(compact) == 9 and compact.isdigit()):
        area, group, serial = int(compact[:3]), int(compact[3:5]), int(compact[5:])
        ssn = 0 < area < 900 and area != 666 and group > 0 and serial > 0
        weights = sum(w * int(x) for w, x in zip(range(9, 1, -1), compact[:8], strict=True))
        bsn = (weights - int(compact[8])) % 11 == 0
        return ssn or bsn
    if re.fullmatch(r"[A-Z]{2}\d{6}[A-D]", compact):  # UK NINO
        return (
            compact[0] not in "DFIQUV"
            and compact[1] not in "DFIOQUV"
            and compact[:2] not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")
        )
    if re.fullmatch(r"\d{8}[A-Z]", compact):  # Spanish DNI
        return "TRWAGMYFPDXBNJZSQVHLCKE"[int(compact[:8]) % 23] == compact[8]
    if re.fullmatch(r"[12]\d{14}", compact):  # French NIR with its key
        return 97 - int(compact[:13]) % 97 == int(compact[13:])
    if re.fullmatch(r"[2-9]\d{11}", compact):  # Aadhaar
        return verhoeff(compact)
    return False


API_KEY = re.compile(
    r"(AKIA[A-Z2-7]{16}|ghp_\w{36}|github_pat_\w+|glpat-\w+|xox[bp]-[\w-]+|"
    r"sk_live_\w+|sk-(proj-)?[\w-]{40,}|AIza[\w-]{35}|"
    r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+)"
)


def valid_span(kind: str, value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if kind == "email":
        return re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", value) is not None
    if kind == "phone":
        return 9 <= len(digits) <= 13 and re.fullmatch(r"[+(\d][\d ()./-]+", value) is not None
    if kind == "card":
        return 13 <= len(digits) <= 19 and luhn(digits)
    if kind == "iban":
        return re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9 ]+", value) is not None and mod97(value)
    if kind == "national_id":
        return national_id_ok(value)
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if kind == "api_key":
        return API_KEY.fullmatch(value) is not None
    assert kind == "private_key"
    return bool(
        re.fullmatch(
            r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n"
            r"-----END \1PRIVATE KEY-----",
            value,
        )
    )


def test_pii_spans_are_valid_values_of_their_type() -> None:
    records = load("pii-eval.jsonl")
    assert len(records) >= 500
    seen: Counter[str] = Counter()
    for r in records:
        assert set(r) == {"id", "text", "pii", "category", "split"}
        last_end = 0
        for span in sorted(r["pii"], key=lambda s: s["start"]):
            assert set(span) == {"type", "start", "end"}
            assert span["type"] in PII_TYPES
            assert last_end <= span["start"] < span["end"] <= len(r["text"])
            last_end = span["end"]
            value = r["text"][span["start"] : span["end"]]
            assert value == value.strip()
            assert valid_span(span["type"], value), (span["type"], value)
            seen[span["type"]] += 1
    assert set(seen) == PII_TYPES
    assert min(seen.values()) >= 15


def test_weak_format_national_ids_come_with_a_context_word() -> None:
    for r in load("pii-eval.jsonl"):
        for span in r["pii"]:
            value = r["text"][span["start"] : span["end"]]
            if span["type"] == "national_id" and re.fullmatch(
                r"\d{9}|\d{12}|\d{4} \d{4} \d{4}", value
            ):
                assert re.search(
                    r"BSN|Aadhaar|SSN|ssn|social security", r["text"], re.IGNORECASE
                ), r["text"]


def test_pii_look_alikes_hold_no_pii_and_include_checksum_failures() -> None:
    records = load("pii-eval.jsonl")
    empty = [r["text"] for r in records if not r["pii"]]
    assert len(empty) >= 150
    iban = r"\b[A-Z]{2}\d{2}(?:(?: [A-Z0-9]{4}){3,7}(?: [A-Z0-9]{1,3})?|[A-Z0-9]{12,30})\b"
    ibans = [m for t in empty for m in re.findall(iban, t)]
    # Card-shaped runs outside IBANs (an IBAN's digits may pass Luhn by chance).
    outside = [re.sub(iban, "", t) for t in empty]
    cards = [m for t in outside for m in re.findall(r"\b(?:\d[ -]?){15}\d\b", t)]
    assert len(cards) >= 10 and not any(luhn(re.sub(r"\D", "", c)) for c in cards)
    assert len(ibans) >= 10 and not any(mod97(i) for i in ibans)
    for pattern in (r"[0-9a-f]{40}", r"[0-9a-f]{8}-[0-9a-f]{4}-", r"978-\d", r"\d{4}-\d{2}-\d{2}"):
        assert any(re.search(pattern, t) for t in empty), pattern


# --- training pools ---------------------------------------------------------------------------


def test_training_pools_are_big_enough_and_labelled() -> None:
    benign, injection, indirect = (load(n) for n in TRAIN)
    assert len(benign) >= 1500 and {r["label"] for r in benign} == {0}
    assert len(injection) >= 1000 and {r["label"] for r in injection} == {1}
    assert {"override", "goal_hijack", "roleplay", "prompt_leak", "obfuscated"} == {
        r["category"] for r in injection
    }
    assert {"en", "de", "es", "fr"} <= {r["lang"] for r in injection}
    assert sum(1 for r in benign if r["triggers"]) >= 200
    labels = Counter(r["label"] for r in indirect)
    assert labels[0] >= 500 and labels[1] >= 500
    # Other carriers than the evaluation's.
    assert not {r["category"] for r in indirect} & CARRIERS


def _grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def _full(r: dict[str, Any]) -> str:
    return f"{r['text']}\n{r.get('context', '')}"


def test_no_text_is_in_both_a_training_pool_and_an_evaluation_set() -> None:
    train = {r["text"] for n in TRAIN for r in load(n)}
    train_docs = {r["context"] for r in load("train-indirect.jsonl")}
    for name in EVAL:
        for r in load(name):
            assert r["text"] not in train, (name, r["text"])
            assert r.get("context") not in train_docs


def test_word_four_grams_shared_by_train_and_eval_are_few() -> None:
    train: set[tuple[str, ...]] = set()
    for name in TRAIN:
        for r in load(name):
            train |= _grams(_full(r))
    for name in EVAL:
        grams: set[tuple[str, ...]] = set()
        for r in load(name):
            own = _grams(_full(r))
            grams |= own
            # No evaluation record is mostly made of training phrases.
            assert len(own & train) <= 0.6 * len(own), (name, r["id"])
        assert len(grams & train) / len(grams) < 0.08, name
