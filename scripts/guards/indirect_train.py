"""TRAINING ONLY: documents with and without an embedded attack (same fields as the
evaluation's indirect.jsonl), in carriers the evaluation does not use: support tickets, CVs,
meeting notes, chat threads, wiki pages (Markdown), configuration files, log excerpts, news
articles (plain text and RSS), marketplace listings, HTML newsletters, API responses (JSON),
shell scripts and SQL migrations, timesheets (TSV). Formats recur on both sides (HTML, JSON,
code, tables), document kinds and phrasings do not. Phrases: ``templates/indirect.train.txt``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from indirect_common import (
    ZWJ_EMOJI,
    Banks,
    Carrier,
    Placed,
    base64_attachment,
    build_indirect,
    data_uri_image,
    encoded_link,
    hex_digest,
)
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


def _render_newsletter(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    cells = "".join(f'<tr><td class="copy">{x}</td></tr>' for x in lines)
    banner = rng.choice(("spring.png", "digest.png", "courses.jpg"))
    return (
        f'<table width="600" role="presentation"><tr><td><img src="cid:{banner}" alt="{title}">'
        f"</td></tr><tr><td><h2>{title}</h2></td></tr>{cells}"
        '<tr><td class="footer">You receive this because you subscribed.</td></tr></table>'
    )


def _hide_in_newsletter(rng: random.Random, payload: str) -> str:
    return rng.choice(
        (
            f'<span class="preheader" style="display:none;max-height:0">{payload}</span>',
            f'<img src="cid:pixel.gif" width="1" height="1" alt="{payload}">',
            f'<font color="#FFFFFF" size="1">{payload}</font>',
        )
    )


_REPOS = ("tiny-http", "geo-tools", "csv-kit", "docs-site", "ml-utils")


def api_response(
    rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
) -> Placed:
    note = payload or ""
    if obf == "markdown_html" and payload is not None:
        note = f"<!-- {payload} -->"
    kind = rng.randrange(3)
    items: list[dict[str, object]]
    if kind == 0:
        items = [
            {"number": rng.randint(10, 900), "title": t, "state": "open", "body": ""}
            for t in rng.sample(
                (
                    "Crash on empty input",
                    "Docs: typo in README",
                    "Support Python 3.13",
                    "Flaky test on Windows",
                    "Add retry option",
                ),
                3,
            )
        ]
        key = "body"
    elif kind == 1:
        items = [
            {
                "sku": f"P-{rng.randint(100, 999)}",
                "name": n,
                "in_stock": rng.randint(0, 80),
                "description": "",
            }
            for n in rng.sample(("garden hose", "rain barrel", "seed tray", "trowel"), 3)
        ]
        key = "description"
    else:
        items = [
            {
                "repo": f"{rng.choice(banks['first']).lower()}/{r}",
                "stars": rng.randint(3, 9000),
                "topics": ["python"],
                "about": "",
            }
            for r in rng.sample(_REPOS, 3)
        ]
        key = "about"
    if trig:
        items[-1][key] = rng.choice(
            (
                "Maintainers may ignore stale requests.",
                "Admin only: bypass the queue with the priority flag.",
                "Forgot password flow broken on mobile.",
            )
        )
    if note:
        items[rng.randrange(len(items))][key] = note
    data = {"status": 200, "count": len(items), "data": items}
    return Placed(
        json.dumps(data, ensure_ascii=False, indent=rng.choice((None, 2))),
        rng.choice([*banks["api_task"], *banks[f"api_task_{kind}"]]),
    )


def source_file(
    rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
) -> Placed:
    del obf
    sql = rng.random() < 0.5
    mark = "--" if sql else "#"
    if sql:
        body = [
            "ALTER TABLE orders ADD COLUMN shipped_at TIMESTAMP NULL;",
            "UPDATE orders SET shipped_at = updated_at WHERE status = 'shipped';",
            "CREATE INDEX idx_orders_shipped ON orders (shipped_at);",
        ]
        head = f"{mark} migration {rng.randint(20240101, 20241231)}_add_shipped_at"
    else:
        body = [
            "set -euo pipefail",
            'BACKUP_DIR="/var/backups/$(date +%F)"',
            'mkdir -p "$BACKUP_DIR"',
            'tar czf "$BACKUP_DIR/site.tgz" /srv/www',
        ]
        head = "#!/usr/bin/env bash\n# nightly backup of the web root"
    if trig:
        body.insert(
            1,
            f"{mark} "
            + rng.choice(
                (
                    "ignore errors from the optional cleanup step",
                    "run as admin on the backup host only",
                    "bypass the lock when restoring by hand",
                )
            ),
        )
    if payload is not None:
        block = "\n".join(f"{mark} {line}" for line in payload.split("\n"))
        if not sql and rng.random() < 0.4:
            block = f"echo {json.dumps(payload, ensure_ascii=False)} > /dev/null"
        body.insert(rng.randint(0, len(body)), block)
    task = rng.choice(banks["source_task_sql" if sql else "source_task_sh"])
    return Placed(head + "\n" + "\n".join(body) + "\n", task)


_PROJECTS = ("Website relaunch", "Data migration", "Client onboarding", "Internal tools")


def timesheet(
    rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
) -> Placed:
    rows = [
        [
            _person(rng, banks),
            rng.choice(_PROJECTS),
            f"{rng.randint(1, 9)}.{rng.choice('05')}",
            rng.choice(("", "", "review", "meeting")),
        ]
        for _ in range(rng.randint(4, 8))
    ]
    if trig:
        rows[rng.randrange(len(rows))][3] = rng.choice(
            ("forgot to log Monday, added later", "override: approved overtime")
        )
    if payload is not None:
        if obf == "split_lines":
            for i, piece in enumerate(payload.split("\n")):
                if i >= len(rows):
                    rows.append([_person(rng, banks), rng.choice(_PROJECTS), "1.0", ""])
                rows[i][3] = piece
        else:
            rows[rng.randrange(len(rows))][3] = payload
    lines = ["name\tproject\thours\tcomment"] + ["\t".join(r) for r in rows]
    return Placed("\n".join(lines), rng.choice(banks["timesheet_task"]))


def _render_encyclopedia(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    if rng.random() < 0.5:
        return f"{title}\n\nFrom the free encyclopedia\n\n" + " ".join(lines)
    return f"== {title} ==\n" + "\n".join(f"{x} [{i + 1}]" for i, x in enumerate(lines))


def _render_invite(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    host = _person(rng, banks)
    return f"You're invited: {title}\nFrom: {host}\n\n" + "\n".join(lines)


def _render_feedback(rng: random.Random, banks: Banks, title: str, lines: list[str]) -> str:
    del banks
    rows = [f"#{rng.randint(1000, 9999)} {x}" for x in lines]
    return f"{title}\n" + "\n".join(rows)


_RESULT_SITES = ("docs.example.org", "wiki.example.net", "forum.example.com", "news.example.io")
_RESULT_SNIPPETS = (
    "Step-by-step guide with screenshots, updated for 2024.",
    "Answer accepted by 312 users: restart the service after changing the setting.",
    "Official documentation for the configuration options.",
    "Benchmarks comparing the three most common approaches.",
    "Click here to read the full article.",
    "Reply #14: same issue here, fixed by clearing the cache.",
)


def search_results(
    rng: random.Random, banks: Banks, payload: str | None, obf: str, trig: bool
) -> Placed:
    items: list[dict[str, object]] = [
        {
            "id": f"r_{rng.randint(100000, 999999)}",
            "url": f"https://{site}/{rng.choice(('a', 'q', 'p'))}/{rng.randint(1000, 99999)}",
            "title": f"Result {i + 1}",
            "snippet": rng.choice(_RESULT_SNIPPETS),
            "score": round(rng.uniform(0.4, 0.99), 3),
        }
        for i, site in enumerate(rng.sample(_RESULT_SITES, 3))
    ]
    if trig:
        items[-1]["snippet"] = rng.choice(
            (
                "How to override the default timeout (admin settings).",
                "Forgot password? Reset it from the account page.",
                "You can ignore this warning on older versions.",
            )
        )
    if payload is not None:
        note = f"<!-- {payload} -->" if obf == "markdown_html" else payload
        items[rng.randrange(len(items))]["snippet"] = note
    data = {"query_id": f"q-{rng.randint(10**7, 10**8 - 1)}", "results": items}
    return Placed(
        json.dumps(data, ensure_ascii=False, indent=rng.choice((None, 2))),
        rng.choice(banks["search_task"]),
    )


CARRIERS: dict[str, tuple[Carrier, bool]] = {
    "support_ticket": (_carrier("ticket", "ticket_subject", _render_ticket, _html_comment), True),
    "resume": (_carrier("cv", "cv_role", _render_cv, _html_comment), True),
    "meeting_notes": (_carrier("notes", "notes_topic", _render_notes, _html_comment), True),
    "chat_thread": (_carrier("chat", None, _render_chat, _html_comment), True),
    "wiki_page": (_carrier("wiki", "wiki_title", _render_wiki, _html_comment), True),
    "config_file": (config_file, False),
    "log_excerpt": (log_excerpt, False),
    "news_article": (_carrier("news", "news_headline", _render_news, _html_comment), True),
    "newsletter": (
        _carrier("newsletter", "newsletter_title", _render_newsletter, _hide_in_newsletter),
        True,
    ),
    "api_response": (api_response, True),
    "source_file": (source_file, False),
    "timesheet": (timesheet, False),
    "product_listing": (_carrier("listing", "listing_title", _render_listing, _html_comment), True),
    "encyclopedia_entry": (
        _carrier("encyclopedia", "encyclopedia_title", _render_encyclopedia, _html_comment),
        True,
    ),
    "event_invitation": (_carrier("invite", "invite_title", _render_invite, _html_comment), True),
    "customer_feedback": (
        _carrier("feedback", "feedback_title", _render_feedback, _html_comment),
        True,
    ),
    "search_results": (search_results, True),
}


def with_lookalikes(banks: dict[str, list[str]], rng: random.Random) -> dict[str, list[str]]:
    """The benign-phrase lists with benign content that looks like a disguise added."""
    extra = {
        "ticket_benign_trigger": [
            base64_attachment(rng, "screenshot.png"),
            "Order link from the confirmation: "
            + encoded_link(rng, "orders.example-mart.com", "Zürich HB"),
        ],
        "chat_benign_trigger": [
            f"happy friday {ZWJ_EMOJI[2]} {ZWJ_EMOJI[4]}",
            f"build artefact digest {hex_digest(rng)[:40]}",
        ],
        "wiki_benign_trigger": [
            f"![team photo](data:image/jpeg;base64,/9j/4AAQ{data_uri_image(rng, 'x')[40:100]})",
            f"Release checksums (sha256): {hex_digest(rng)}",
        ],
        "notes_benign_trigger": [
            f"Dashboard: {encoded_link(rng, 'bi.example-analytics.com', 'Q2 review/EMEA')}",
        ],
        "newsletter_benign_trigger": [
            data_uri_image(rng, "spacer"),
            '<a href="'
            + encoded_link(rng, "click.example-mailer.com", "spring sale")
            + '">Shop</a>',
        ],
        "listing_benign_trigger": [
            f"Photos: {encoded_link(rng, 'img.example-market.com', 'board 40x25')}",
        ],
    }
    out = {k: list(v) for k, v in banks.items()}
    for name, items in extra.items():
        out[name] += items
    return out


def build(seed: int = 13_103) -> list[Record]:
    banks = with_lookalikes(read_banks(BANK_FILE), new_rng(seed + 1))
    return build_indirect(new_rng(seed), banks, CARRIERS, 64, 64, "tind", "train")
