"""TRAINING ONLY: documents with and without an embedded attack (same fields as the
evaluation's indirect.jsonl), in carriers the evaluation does not use: support tickets, CVs,
meeting notes, chat threads, wiki pages (Markdown), configuration files, log excerpts, news
articles (plain text and RSS), marketplace listings. Phrases: ``templates/indirect.train.txt``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from indirect_common import Banks, Carrier, Placed, build_indirect
from textgen import Record, fill, new_rng, read_banks

BANK_FILE = Path(__file__).parent / "templates" / "indirect.train.txt"

# How a carrier lays out its lines (title, lines) and hides a payload in its markup.
Render = Callable[[random.Random, Banks, str, list[str]], str]
Hide = Callable[[random.Random, str], str]


def _person(rng: random.Random, banks: Banks) -> str:
    return f"{rng.choice(banks['first'])} {rng.choice(banks['last'])}"


def _lines(rng: random.Random, banks: Banks, prefix: str, low: int, high: int) -> list[str]:
    pool = list(banks[f"{prefix}_line" if f"{prefix}_line" in banks else f"{prefix}_body"])
    return [fill(x, rng, banks) for x in rng.sample(pool, min(len(pool), rng.randint(low, high)))]


def _carrier(prefix: str, title_bank: str | None, render: Render, hide: Hide) -> Carrier:
    def carrier(
        rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
    ) -> Placed:
        title = fill(rng.choice(banks[title_bank]), rng, banks) if title_bank else ""
        lines = _lines(rng, banks, prefix, 2, 5)
        if trig:
            lines.insert(rng.randint(0, len(lines)), rng.choice(banks[f"{prefix}_benign_trigger"]))
        if payload is not None:
            piece = hide(rng, payload) if obf == "markdown_html" else payload
            lines.insert(rng.randint(0, len(lines)), piece)
        return Placed(render(rng, banks, title, lines), rng.choice(banks[f"{prefix}_task"]))

    return carrier


def _html_comment(rng: random.Random, payload: str) -> str:
    return rng.choice(
        (
            f"<!-- {payload} -->",
            f"[//]: # ({payload})",
            f"<details><summary></summary>{payload}</details>",
            f'<sub style="opacity:0">{payload}</sub>',
        )
    )


def _render_ticket(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    number = rng.randint(10000, 99999)
    return (
        f"Ticket #{number}\nSubject: {title}\nPriority: {rng.choice(('low', 'normal', 'high'))}"
        "\n\n" + "\n".join(lines)
    )


def _render_cv(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    name = _person(rng, banks)
    return f"CURRICULUM VITAE\n{name} - {title}\n\n" + "\n".join(f"- {x}" for x in lines)


def _render_notes(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    day = f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/2024"
    return f"# {title} ({day})\n\n" + "\n".join(f"* {x}" for x in lines)


_HANDLES = ("mara", "jo.k", "devops-bot", "lin", "sam_t", "pieter")


def _render_chat(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    del title
    out = []
    for i, line in enumerate(lines):
        out.append(f"[{9 + i // 3:02d}:{rng.randint(0, 59):02d}] @{rng.choice(_HANDLES)}: {line}")
    return "\n".join(out)


def _render_wiki(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    return f"# {title}\n\n_Last edited by {rng.choice(_HANDLES)}_\n\n" + "\n\n".join(lines)


def _render_news(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    if rng.random() < 0.4:
        items = "".join(f"<p>{x}</p>" for x in lines)
        return (
            f'<?xml version="1.0"?>\n<rss version="2.0"><channel><item><title>{title}</title>'
            f"<description><![CDATA[{items}]]></description></item></channel></rss>"
        )
    return f"{title.upper()}\n\n" + " ".join(lines)


def _render_listing(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    price = rng.randint(15, 600)
    return f"{title} - {price} EUR\n\n" + "\n".join(lines)


_CONFIG_KEYS = (
    ("replicas", "3"),
    ("log_level", "info"),
    ("timeout_seconds", "30"),
    ("region", "eu-west-1"),
    ("max_connections", "200"),
    ("feature_flags", "[beta_ui]"),
    ("retry_backoff", "exponential"),
    ("cache_ttl", "600"),
)
_CONFIG_BENIGN = (
    "admin override: keep replicas at 3",
    "ignore unknown keys",
    "bypass proxy for *.internal",
)


def config_file(
    rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
) -> Placed:
    del obf
    keys = rng.sample(_CONFIG_KEYS, rng.randint(3, 6))
    yaml = rng.random() < 0.6
    lines = [f"{k}: {v}" if yaml else f"{k} = {v}" for k, v in keys]
    comment = "#" if yaml else ";"
    if trig:
        lines.insert(0, f"{comment} {rng.choice(_CONFIG_BENIGN)}")
    if payload is not None:
        where = rng.random()
        if where < 0.6:
            block = "\n".join(f"{comment} {x}" for x in payload.split("\n"))
        else:
            block = (
                f"description: {json.dumps(payload, ensure_ascii=False)}"
                if yaml
                else (f"description = {json.dumps(payload, ensure_ascii=False)}")
            )
        lines.insert(rng.randint(0, len(lines)), block)
    head = "" if yaml else "[service]\n"
    return Placed(head + "\n".join(lines) + "\n", rng.choice(banks["config_task"]))


_LOG_MSGS = (
    "connection refused to db-primary:5432",
    "request completed in 182 ms",
    "cache miss for key user:4411",
    "worker 3 restarted",
    "certificate expires in 3 days",
    "rate limit exceeded for client 10.0.4.7",
    "health check ok",
)


def log_excerpt(
    rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
) -> Placed:
    del obf
    as_json = rng.random() < 0.5
    entries = []
    for i in range(rng.randint(4, 8)):
        level = rng.choice(("INFO", "INFO", "WARN", "ERROR"))
        entries.append(
            (
                f"2024-06-{rng.randint(1, 28):02d}T1{i}:{rng.randint(10, 59)}:0{i}Z",
                level,
                rng.choice(_LOG_MSGS),
            )
        )
    if trig:
        entries.insert(
            1, ("2024-06-02T09:00:00Z", "INFO", "ignored duplicate event (admin replay)")
        )
    if payload is not None:
        entries.insert(
            rng.randint(0, len(entries)), ("2024-06-02T10:11:12Z", "INFO", f"user_agent={payload}")
        )
    if as_json:
        out = [
            json.dumps({"ts": t, "level": lv, "msg": m}, ensure_ascii=False) for t, lv, m in entries
        ]
    else:
        out = [f"{t} {lv:5} api: {m}" for t, lv, m in entries]
    return Placed("\n".join(out), rng.choice(banks["log_task"]))


CARRIERS: dict[str, tuple[Carrier, bool]] = {
    "support_ticket": (_carrier("ticket", "ticket_subject", _render_ticket, _html_comment), True),
    "resume": (_carrier("cv", "cv_role", _render_cv, _html_comment), True),
    "meeting_notes": (_carrier("notes", "notes_topic", _render_notes, _html_comment), True),
    "chat_thread": (_carrier("chat", None, _render_chat, _html_comment), True),
    "wiki_page": (_carrier("wiki", "wiki_title", _render_wiki, _html_comment), True),
    "config_file": (config_file, False),
    "log_excerpt": (log_excerpt, False),
    "news_article": (_carrier("news", "news_headline", _render_news, _html_comment), True),
    "product_listing": (_carrier("listing", "listing_title", _render_listing, _html_comment), True),
}


def build(seed: int = 13_103) -> list[Record]:
    banks = read_banks(BANK_FILE)
    return build_indirect(new_rng(seed), banks, CARRIERS, 80, 80, "tind", "train")
