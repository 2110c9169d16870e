"""Reporting a comparison: a terminal table, one JSON object, an HTML page with PNG plots."""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aiplane.core.errors import Problem, SpecError
from aiplane.sim.caveats import caveats
from aiplane.sim.metrics import JobRecord
from aiplane.sim.runner import Comparison


def hours(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def to_json(comparison: Comparison) -> dict[str, Any]:
    """One object, a key per policy, each with the summary's figures and its label."""
    out: dict[str, Any] = {}
    for name, result in comparison.results.items():
        out[name] = {"label": comparison.labels[name], **result.summary.as_dict()}
    return out


def to_cli_json(comparison: Comparison) -> dict[str, Any]:
    """What ``simulate --json`` prints: a key per policy, and ``warnings`` (a list, empty when
    there is nothing to say; no policy is named ``warnings``)."""
    return {**to_json(comparison), "warnings": caveats(comparison)}


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)


COLUMNS = (
    "policy", "jobs", "avg JCT", "p50 JCT", "p99 JCT", "avg queue", "makespan", "GPU util",
    "frag.", "cost $", "violations", "preempt.", "rework GPU-h", "wall s",
)  # fmt: skip


def rows(comparison: Comparison) -> list[list[str]]:
    out = []
    for name, result in comparison.results.items():
        s = result.summary
        out.append(
            [
                comparison.labels[name],
                f"{s.finished}/{s.jobs}",
                hours(s.avg_jct_s),
                hours(s.p50_jct_s),
                hours(s.p99_jct_s),
                hours(s.avg_queue_s),
                hours(s.makespan_s),
                f"{s.gpu_utilization:.1%}",
                f"{s.fragmentation:.1%}",
                f"{s.cost_usd:,.0f}",
                str(s.violations + s.partial_gangs),
                str(s.preemptions + s.interruptions),
                f"{s.rework_gpu_hours:,.1f}",
                f"{s.wall_s:.1f}",
            ]
        )
    return out


def print_table(comparison: Comparison, console: Console, title: str | None = None) -> None:
    table = Table(title=title, header_style="bold")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in rows(comparison):
        table.add_row(*row)
    if not console.is_terminal:
        # Piped to a file or a log: keep every column whole, not squeezed into 80 characters.
        console = Console(file=console.file, width=200)
    console.print(table)
    base = next(iter(comparison.results.values())).summary if comparison.results else None
    if base is not None and len(comparison.results) > 1:
        ratios = ", ".join(
            f"{comparison.labels[n]} {base.avg_jct_s / r.summary.avg_jct_s:.2f}x"
            for n, r in comparison.results.items()
            if r.summary.avg_jct_s > 0
        )
        console.print(
            f"avg JCT speed-up against {comparison.labels[next(iter(comparison.labels))]}: {ratios}"
        )
    for warning in caveats(comparison):
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)


def prepare_out(out: str | Path) -> Path:
    """Checks, before a replay that may take minutes, that its report can be written: the
    plots' matplotlib is installed and ``out`` is (or is now) a folder."""
    from aiplane.sim.plots import require_matplotlib

    require_matplotlib()
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise SpecError(
            "cannot write the report",
            [Problem("--out", "is a file", str(folder), "a folder (created when missing)")],
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SpecError(
            "cannot write the report",
            [Problem("--out", f"cannot create the folder: {reason}", str(folder))],
        ) from None
    return folder


def write_html(
    comparison: Comparison, out: str | Path, meta: Mapping[str, Any] | None = None
) -> Path:
    """``index.html``, ``report.json`` and the PNG plots under ``out``; returns the page."""
    from aiplane.sim.plots import write_plots  # matplotlib is an optional extra

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    images = write_plots(comparison, folder)
    data = to_json(comparison)
    (folder / "report.json").write_text(
        json.dumps(
            {"meta": dict(meta or {}), "policies": data, "warnings": caveats(comparison)},
            indent=2,
            sort_keys=True,
            default=str,
        )
    )
    for name, result in comparison.results.items():
        write_jobs_csv(result.records, folder / f"jobs-{name}.csv")
    page = folder / "index.html"
    page.write_text(_page(comparison, images, meta or {}), encoding="utf-8")
    return page


JOB_COLUMNS = (
    "id", "team", "gpus", "submit_s", "first_start_s", "finish_s", "jct_s", "queue_s", "run_s",
    "preemptions", "interruptions", "rework_gpu_s", "cost_usd", "pool",
)  # fmt: skip


def write_jobs_csv(records: Sequence[JobRecord], path: Path) -> None:
    """One row per job, for analysis elsewhere."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(JOB_COLUMNS)
        for r in records:
            writer.writerow([getattr(r, c) for c in JOB_COLUMNS])


def _page(
    comparison: Comparison, images: Sequence[tuple[str, str]], meta: Mapping[str, Any]
) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows(comparison)
    )
    facts = "".join(f"<li><b>{esc(str(k))}</b>: {esc(str(v))}</li>" for k, v in meta.items())
    figures = "".join(
        f'<figure><img src="{esc(name)}" alt="{esc(caption)}"><figcaption>{esc(caption)}'
        "</figcaption></figure>"
        for name, caption in images
    )
    problems = [
        f"{comparison.labels[n]}: {r.summary.violations} constraint violation(s), "
        f"{r.summary.partial_gangs} partial gang(s): {'; '.join(r.counters.violation_examples)}"
        for n, r in comparison.results.items()
        if r.summary.violations or r.summary.partial_gangs
    ]
    warn = "".join(f'<p class="bad">{esc(p)}</p>' for p in problems)
    warn += "".join(f'<p class="warn">{esc(w)}</p>' for w in caveats(comparison))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aiplane simulation report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #ddd;
text-align: right; }} th:first-child, td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 1rem 1rem 0 0; }} img {{ max-width: 640px; }}
.bad {{ color: #b00; font-weight: bold; }} .warn {{ color: #a60; font-weight: bold; }}
</style></head><body>
<h1>aiplane simulation report</h1>
<ul>{facts}</ul>
{warn}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p>JCT: finish minus submit. Queue: first start minus submit. GPU utilisation: busy over
available GPU-seconds. Fragmentation: free GPUs too few for any waiting job's replica, as a share
of capacity. Cost: GPU-hours used at each pool's rate. Violations count placements a workload's
constraints forbid and over-allocated nodes; both must be zero.</p>
{figures}
</body></html>
"""
