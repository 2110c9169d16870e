"""EVALUATION ONLY: benign prompts that contain the words injection detectors key on.

Each row of ``templates/hard_negatives.eval.tsv`` is (category, language, template); a
template gives up to two prompts (see ``textgen.expand``). The training pools are written
from other templates, topics and phrasings (``benign_train.py``); nothing here may be copied
there.
"""

from __future__ import annotations

from pathlib import Path

from textgen import Record, expand, new_rng, read_templates, triggers_in

SLOTS: dict[str, list[str]] = {
    "folder": ["node_modules", "build", ".venv", "dist", "coverage", "__pycache__", "logs", "tmp"],
    "lang": ["Python", "JavaScript", "Go", "Rust", "Java", "C#", "Ruby", "Kotlin"],
    "city": ["Lisbon", "Kyoto", "Vienna", "Montreal", "Edinburgh", "Seville", "Prague", "Oslo"],
    "game": ["Elden Ring", "Baldur's Gate 3", "Hollow Knight", "Stardew Valley", "Zelda: TOTK"],
    "dev": ["Pixel 8", "Galaxy S23", "OnePlus 11", "Xiaomi 13", "Fairphone 5"],
}

TEMPLATE_FILE = Path(__file__).parent / "templates" / "hard_negatives.eval.tsv"
# How many prompts each template gives at most; the set is every one of them.
PER_TEMPLATE = 2


def build(seed: int = 13_001) -> list[Record]:
    rng = new_rng(seed)
    records: list[Record] = []
    seen: set[str] = set()
    for category, lang, template in read_templates(TEMPLATE_FILE, 3):
        for text in expand(template, rng, PER_TEMPLATE, SLOTS):
            if text in seen:
                continue
            seen.add(text)
            records.append(
                {
                    "id": f"hn-{len(records) + 1:04d}",
                    "text": text,
                    "label": 0,
                    "category": category,
                    "lang": lang,
                    "triggers": triggers_in(text),
                    "split": "eval",
                }
            )
    return records
