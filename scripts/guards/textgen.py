"""Small tools the data generators share: template expansion, the trigger lexicon, writing.

A template is text with choice groups: ``{a|b|c}`` picks one of the alternatives and
``{@name}`` one entry of the slot list ``name``. Expanding a template draws a few distinct
fillings with the generator's own seeded ``random.Random``, so one template gives a handful of
varied prompts, never hundreds of echoes of itself.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_GROUP = re.compile(r"\{([^{}]*)\}")
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:])(?=\s|$)")

Record = dict[str, Any]


def new_rng(seed: int) -> random.Random:
    # A seeded generator, for reproducible data, not secrecy.
    return random.Random(seed)  # noqa: S311


def _alternatives(group: str, slots: Mapping[str, Sequence[str]]) -> Sequence[str]:
    if group.startswith("@"):
        return slots[group[1:]]
    return group.split("|")


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return text.strip()


def expand(
    template: str,
    rng: random.Random,
    k: int,
    slots: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Up to ``k`` distinct fillings of ``template``, drawn with ``rng``."""
    slots = slots or {}
    groups = [_alternatives(g, slots) for g in _GROUP.findall(template)]
    pieces = _GROUP.split(template)[::2]
    total = 1
    for alternatives in groups:
        total *= len(alternatives)
    if total <= 4096:
        combos = list(itertools.product(*groups))
        chosen = rng.sample(combos, min(k, len(combos)))
    else:
        seen: set[tuple[str, ...]] = set()
        chosen = []
        while len(chosen) < k:
            combo = tuple(rng.choice(alternatives) for alternatives in groups)
            if combo not in seen:
                seen.add(combo)
                chosen.append(combo)
    out = []
    for combo in chosen:
        parts = [pieces[0]]
        for value, piece in zip(combo, pieces[1:], strict=True):
            parts += [value, piece]
        out.append(_tidy("".join(parts)))
    return list(dict.fromkeys(out))


# Trigger words and phrases an over-eager injection detector keys on, with the name each is
# recorded under in a hard negative's ``triggers``. English first, then German, French, Spanish.
TRIGGERS: tuple[tuple[str, str], ...] = (
    ("ignore previous", r"ignor\w*\s+(?:the\s+|all\s+|my\s+)?(?:previous|prior|above|earlier)"),
    ("ignore", r"ignor\w*"),
    ("disregard", r"\bdisregard\w*"),
    ("forget", r"\bforg[eo]t\w*"),
    ("override", r"\boverrid\w*|\boverwrit\w*|\bübersteuer\w*|\büberschreib\w*"),
    ("bypass", r"\bbypass\w*|\bcircumvent\w*|\bumgeh\w*|\bcontourn\w*|\bsaltar\w*"),
    ("jailbreak", r"\bjailbr\w*|\bjail\s?break\w*"),
    ("system prompt", r"\bsystem[- ]?prompt\w*|\bsystemprompt\w*|\bprompt syst[eè]me"),
    ("instructions", r"\binstruction\w*|\binstrucci\w*|\banweisung\w*"),
    ("new instructions", r"\bnew instructions|\bneue[n]? anweisungen|\bnouvelles instructions"),
    (
        "pretend",
        (
            r"\bpretend\w*|\bt(?:u|ut) so,? als\b|\bfais comme si\b|\bhaz como si\b|"
            r"\bso tut,? als\b|\bstell dir vor\b|\bfai\w* semblant\b|\bfing\w*\b"
        ),
    ),
    ("act as", r"\bact(?:ing)? as\b|\bactúa como\b|\bagis comme\b"),
    ("you are now", r"\byou are now\b|\byou're now\b|\bdu bist jetzt\b"),
    ("developer mode", r"\bdev(?:eloper)? mode\b|\bentwicklermodus\b|\bmode développeur\b"),
    ("DAN", r"\bDAN\b|\bDan\b"),
    ("reveal", r"\breveal\w*|\bunhide\b|\beinblend\w*|\bverr[aä]t\w*"),
    ("password", r"\bpassword\w*|\bpassw[oö]rt\w*|\bmot de passe\b|\bcontraseña\w*|\bpasscode\b"),
    ("admin", r"\badmin\w*|\bsudo\b|\broot\b"),
    ("prompt injection", r"\bprompt[- ]injection\w*|\binjection de prompt\w*|\binyecci[oó]n de"),
    (
        "from now on",
        (
            r"\bfrom now on\b|\bab jetzt\b|\bab sofort\b|\bà partir de maintenant\b|"
            r"\ba partir de ahora\b|\bde ahora en adelante\b"
        ),
    ),
    ("previous instructions", r"\b(?:previous|prior|earlier|above) (?:instructions|prompt)"),
    ("vergiss", r"\bvergiss\w*|\bvergess\w*|\bvergaß\w*"),
    ("oublie", r"\boubli\w*"),
    ("olvida", r"\bolvid\w*"),
    ("unrestricted", r"\bunrestricted\b|\bunfiltered\b|\buncensored\b"),
    ("roleplay", r"\brole[- ]?play\w*|\bin character\b"),
    ("secret", r"\bsecret\w*|\bgeheim\w*"),
    ("hack", r"\bhack\w*|\bhijack\w*"),
    ("stop", r"\bstop\b"),
)
_TRIGGER_RES = tuple((name, re.compile(rx, re.IGNORECASE)) for name, rx in TRIGGERS)


def triggers_in(text: str) -> list[str]:
    """The trigger names that occur in ``text``, in lexicon order."""
    return [name for name, rx in _TRIGGER_RES if rx.search(text)]


def read_templates(path: Path, fields: int) -> list[tuple[str, ...]]:
    """The rows of a template file: ``fields`` tab-separated columns a line; ``#`` comments."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = tuple(line.split("\t"))
        if len(cols) != fields:
            raise ValueError(f"{path.name}:{n}: {len(cols)} columns, expected {fields}")
        rows.append(cols)
    return rows


def read_banks(path: Path) -> dict[str, list[str]]:
    """Named lists of phrases: a ``## name`` line opens a list, each later line is an entry
    (``\\n`` in an entry stands for a line break); ``#`` lines are comments."""
    banks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = banks.setdefault(line[3:].strip(), [])
        elif line.strip() and not line.startswith("#"):
            if current is None:
                raise ValueError(f"{path.name}: an entry before the first ## name")
            current.append(line.rstrip().replace("\\n", "\n"))
    return banks


def fill(template: str, rng: random.Random, slots: Mapping[str, Sequence[str]]) -> str:
    """One filling of ``template``; slot entries may hold choice groups themselves."""
    text = template
    for _ in range(4):  # slot entries can nest one or two levels
        if not _GROUP.search(text):
            break
        text = _GROUP.sub(lambda m: rng.choice(_alternatives(m.group(1), slots)), text)
    return text


def write_jsonl(path: Path, records: Iterable[Record]) -> int:
    """Writes one JSON object per line (UTF-8, ``\\n``), keys in the order given; the count."""
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
    path.write_text("".join(lines), encoding="utf-8", newline="\n")
    return len(lines)
