"""TRAINING ONLY: benign prompts: trigger words in benign use, plain questions, and the
legitimate instructions users give an assistant ("summarise", "translate", "act as a tutor").

Templates in ``templates/benign.train.tsv``, slot lists in ``templates/benign.train.slots.txt``;
none is shared with the evaluation sets.
"""

from __future__ import annotations

from pathlib import Path

from textgen import Record, expand, new_rng, read_banks, read_templates, triggers_in

TEMPLATES = Path(__file__).parent / "templates" / "benign.train.tsv"
SLOTS = Path(__file__).parent / "templates" / "benign.train.slots.txt"

# Prompts per template: few for the hand-written trigger prompts, more for the frames whose
# slots give real variety.
PER_TEMPLATE = {
    "trigger_benign": 4,
    "general": 10,
    "question": 28,
    "question_de": 24,
    "question_es": 8,
    "question_fr": 8,
    "instruction": 32,
    "roleplay_benign": 30,
}


def build(seed: int = 13_102) -> list[Record]:
    rng = new_rng(seed)
    slots = read_banks(SLOTS)
    # A role and a task that belong together, in the three shapes the templates use.
    pairs = [entry.split("|", 1) for entry in slots["role_pair"]]
    slots["role_and"] = [f"{role} and {task}" for role, task in pairs]
    slots["role_dot"] = [f"{role}. {task[0].upper()}{task[1:]}." for role, task in pairs]
    slots["role_colon"] = [f"{role}: {task}" for role, task in pairs]
    pairs_de = [entry.split("|", 1) for entry in slots["role_pair_de"]]
    slots["role_de_dot"] = [f"{role}. {task}." for role, task in pairs_de]
    slots["role_de_colon"] = [f"{role}: {task[0].lower()}{task[1:]}" for role, task in pairs_de]
    records: list[Record] = []
    seen: set[str] = set()
    for category, lang, template in read_templates(TEMPLATES, 3):
        k = PER_TEMPLATE.get(category, 10)
        for text in expand(template, rng, k, slots):
            if text in seen:
                continue
            seen.add(text)
            records.append(
                {
                    "id": f"tben-{len(records) + 1:05d}",
                    "text": text,
                    "label": 0,
                    "category": category.split("_")[0]
                    if category.startswith("question")
                    else category,
                    "lang": lang,
                    "triggers": triggers_in(text),
                    "split": "train",
                }
            )
    return records
