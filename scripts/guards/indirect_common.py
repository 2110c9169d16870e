"""What the indirect sets share: composing an attack, disguising it, assembling records.

A carrier is a function that writes one document of its kind (an e-mail, a web page, a CSV
file...) with the attack placed somewhere inside, or none, and picks the user's task for it.
The evaluation set and the training pool have their own carriers and phrase banks; only this
assembly and the obfuscations are common.
"""

from __future__ import annotations

import base64
import random
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from obfuscate import apply
from textgen import Record, fill

GOALS = ("exfiltrate", "change_answer", "phishing", "leak_system_prompt", "tool_call")

# The share of attacks each disguise gets: plain text the most, as in the wild.
OBFUSCATION_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("none", 30),
    ("markdown_html", 10),
    ("zero_width", 6),
    ("tag_chars", 5),
    ("homoglyph", 7),
    ("base64", 7),
    ("hex", 4),
    ("url_encoding", 4),
    ("rot13", 5),
    ("split_lines", 8),
    ("spaced_letters", 5),
    ("leetspeak", 6),
)

Banks = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Placed:
    """One document and the task the user gave with it."""

    context: str
    text: str


# carrier(rng, banks, payload or None, obfuscation, benign_trigger) -> Placed
Carrier = Callable[[random.Random, Banks, str | None, str, bool], Placed]


def compose_attack(rng: random.Random, banks: Banks, goal: str) -> str:
    """A framing (or none) and one payload for ``goal``, as plain text."""
    payload = fill(rng.choice(banks[f"payload_{goal}"]), rng, banks)
    framing = rng.choice([*banks["framing"], "", ""])
    if framing and not framing.endswith((".", ":", "!", "\n", "]", "-", ">", ")")):
        return f"{framing} {payload}"  # the framing's sentence goes on into the payload
    payload = payload[0].upper() + payload[1:]
    if not framing or framing.endswith("\n"):
        return framing + payload
    return f"{framing} {payload}"


def pick_obfuscation(rng: random.Random, markup: bool) -> str:
    names = [n for n, _ in OBFUSCATION_WEIGHTS if markup or n != "markdown_html"]
    weights = [w for n, w in OBFUSCATION_WEIGHTS if markup or n != "markdown_html"]
    return rng.choices(names, weights)[0]


def build_indirect(
    rng: random.Random,
    banks: Banks,
    carriers: Mapping[str, tuple[Carrier, bool]],
    attacks_per_carrier: int,
    benign_per_carrier: int,
    id_prefix: str,
    split: str,
) -> list[Record]:
    """Attacks and benign documents for every carrier; ``carriers`` maps a name to the
    function and whether it can hide a payload in markup (``markdown_html``)."""
    records: list[Record] = []
    seen: set[tuple[str, str]] = set()
    for name, (carrier, markup) in carriers.items():
        plans = [
            (1, GOALS[i % len(GOALS)], pick_obfuscation(rng, markup))
            for i in range(attacks_per_carrier)
        ]
        plans += [(0, "none", "none")] * benign_per_carrier
        for label, goal, obfuscation in plans:
            for _ in range(20):  # redraw the rare duplicate
                payload = None
                if label:
                    payload = apply(obfuscation, compose_attack(rng, banks, goal), rng)
                benign_trigger = rng.random() < (0.25 if label else 0.45)
                placed = carrier(rng, banks, payload, obfuscation, benign_trigger)
                if (placed.text, placed.context) not in seen:
                    break
            seen.add((placed.text, placed.context))
            records.append(
                {
                    "id": f"{id_prefix}-{len(records) + 1:04d}",
                    "text": placed.text,
                    "context": placed.context,
                    "label": label,
                    "category": name,
                    "obfuscation": obfuscation,
                    "goal": goal,
                    "split": split,
                }
            )
    return records


# Benign content that looks like a disguise: documents carry base64 images, hashes,
# URL-encoded links, other scripts and emoji joined by zero-width joiners all the time. Each
# side adds some to its benign-phrase lists, so that "holds base64" or "holds Cyrillic" does
# not mean "carries an attack".


def _blob(rng: random.Random, n: int) -> str:
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(n))).decode()


def data_uri_image(rng: random.Random, alt: str) -> str:
    return f'<img src="data:image/png;base64,iVBORw0KGgo{_blob(rng, 48)}" alt="{alt}">'


def encoded_link(rng: random.Random, host: str, place: str) -> str:
    query = urllib.parse.urlencode(
        {"id": str(rng.randint(10**6, 10**7)), "dest": place, "ref": "mail/spring promo"}
    )
    return f"https://{host}/?{query}"


def hex_digest(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(64))


def base64_attachment(rng: random.Random, name: str) -> str:
    blob = _blob(rng, 90)
    lines = "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
    return (
        f'Content-Type: application/pdf; name="{name}"\nContent-Transfer-Encoding: base64\n\n'
        + lines
    )


ZWJ_EMOJI = ("👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈", "👩\u200d💻", "🧑\u200d🍳", "❤\ufe0f\u200d🔥")
