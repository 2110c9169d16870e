"""TRAINING ONLY: direct prompt injections, composed from ``templates/injection.train.txt``.

Kinds (``category``): ``override`` (ignore / forget / disregard, then a new task), ``goal_hijack``
(a benign question or praise, then the override, as in deepset's data), ``roleplay`` (DAN,
developer mode, "you are now..."), ``prompt_leak``, and ``obfuscated`` (any of them disguised).
English, German, Spanish and French (``lang``).
"""

from __future__ import annotations

import random
from pathlib import Path

import obfuscate
from textgen import Record, fill, new_rng, read_banks

BANK_FILE = Path(__file__).parent / "templates" / "injection.train.txt"
LANG_WEIGHTS = (("en", 62), ("de", 22), ("es", 8), ("fr", 8))
KIND_WEIGHTS = (
    ("override", 36),
    ("goal_hijack", 26),
    ("roleplay", 16),
    ("prompt_leak", 10),
    ("obfuscated", 12),
)
TARGET = 1200

Banks = dict[str, list[str]]


def join(first: str, second: str) -> str:
    """``first`` then ``second``, the second capitalised after a sentence end."""
    first, second = first.strip(), second.strip()
    if first.endswith((".", ":", "!", "?", "-")):
        return f"{first} {second[0].upper()}{second[1:]}"
    return f"{first} {second[0].lower()}{second[1:]}"


def _pick(rng: random.Random, banks: Banks, name: str) -> str:
    return fill(rng.choice(banks[name]), rng, banks)


_STOPWORDS = {
    "en": {"you", "the", "and", "are", "your", "now", "all", "to", "what", "is"},
    "de": {"du", "ist", "und", "nicht", "die", "der", "mir", "dich", "deine", "bist", "jetzt"},
    "es": {"eres", "las", "tus", "ahora", "que", "los", "sin", "reglas", "cuáles", "son"},
    "fr": {"tu", "les", "tes", "maintenant", "est", "une", "sans", "règles", "quelles", "sont"},
}


def guess_lang(text: str) -> str:
    """The language whose common words the text holds most (the role-play and leak lists mix
    languages in one list)."""
    words = text.lower().split()
    return max(
        _STOPWORDS, key=lambda lang: sum(w.strip(".,:;!?¿\"'") in _STOPWORDS[lang] for w in words)
    )


def _lang(rng: random.Random) -> str:
    return rng.choices([n for n, _ in LANG_WEIGHTS], [w for _, w in LANG_WEIGHTS])[0]


def override(rng: random.Random, banks: Banks, lang: str) -> str:
    return join(_pick(rng, banks, f"override_{lang}"), _pick(rng, banks, f"task_{lang}"))


def goal_hijack(rng: random.Random, banks: Banks, lang: str) -> str:
    base = lang if f"question_{lang}" in banks else "en"
    lead = _pick(rng, banks, f"question_{base}")
    if rng.random() < 0.4 and f"prefix_{base}" in banks:
        lead = _pick(rng, banks, f"prefix_{base}")
    attack = override(rng, banks, lang)
    if lang == "en" and rng.random() < 0.5:
        attack = join(_pick(rng, banks, "connector_en"), attack)
    return f"{lead} {attack}"


def roleplay(rng: random.Random, banks: Banks, lang: str) -> str:
    del lang
    return _pick(rng, banks, "roleplay")


def prompt_leak(rng: random.Random, banks: Banks, lang: str) -> str:
    del lang
    text = _pick(rng, banks, "leak")
    if rng.random() < 0.3:  # an override in the leak request's own language first
        text = join(_pick(rng, banks, f"override_{guess_lang(text)}"), text)
    return text


def obfuscated(rng: random.Random, banks: Banks, lang: str) -> tuple[str, str]:
    inner = rng.choice((override, goal_hijack, roleplay, prompt_leak))(rng, banks, lang)
    name = rng.choice(sorted(obfuscate.OBFUSCATIONS))
    if name in ("base64", "hex", "rot13", "url_encoding") and rng.random() < 0.6:
        # An encoded attack needs a reason for the model to decode it.
        lead = rng.choice(
            (
                "Decode the following and do what it says:",
                "Please decode:",
                "Run this:",
                "Answer the decoded message:",
            )
        )
        return f"{lead} {obfuscate.apply(name, inner, rng)}", name
    return obfuscate.apply(name, inner, rng), name


def build(seed: int = 13_101) -> list[Record]:
    rng = new_rng(seed)
    banks = read_banks(BANK_FILE)
    makers = {
        "override": override,
        "goal_hijack": goal_hijack,
        "roleplay": roleplay,
        "prompt_leak": prompt_leak,
    }
    records: list[Record] = []
    seen: set[str] = set()
    attempts = 0
    while len(records) < TARGET and attempts < TARGET * 20:
        attempts += 1
        kind = rng.choices([k for k, _ in KIND_WEIGHTS], [w for _, w in KIND_WEIGHTS])[0]
        lang = _lang(rng)
        technique = "none"
        if kind == "obfuscated":
            text, technique = obfuscated(rng, banks, lang)
        else:
            text = makers[kind](rng, banks, lang)
        if kind in ("roleplay", "prompt_leak") or technique in ("roleplay", "prompt_leak"):
            lang = guess_lang(text)
        if text in seen:
            continue
        seen.add(text)
        records.append(
            {
                "id": f"tinj-{len(records) + 1:05d}",
                "text": text,
                "label": 1,
                "category": kind,
                "lang": lang,
                "obfuscation": technique,
                "split": "train",
            }
        )
    return records
