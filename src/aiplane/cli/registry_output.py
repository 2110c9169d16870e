"""How the registry's versions print: a short digest, metrics, a table row, one version in
full."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from aiplane.cli.output import console, when
from aiplane.wire.registry import ModelVersionOut

VERSION_COLUMNS = ["version", "flavor", "digest", "created", "by", "aliases", "metrics"]


def short(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits: enough to tell versions apart in a table."""
    algo, _, hexa = digest.partition(":")
    return f"{algo}:{hexa[:12]}" if hexa else digest[:19]


def metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items()))


def version_row(v: ModelVersionOut) -> list[Any]:
    return [
        v.version,
        v.flavor,
        short(v.artifact),
        when(v.created_at),
        v.created_by,
        ", ".join(v.aliases),
        metrics_text(v.metrics),
    ]


def print_version(v: ModelVersionOut) -> None:
    """Everything about one version, one fact a line."""
    console.print(f"[bold]{escape(v.model)}@{v.version}[/]  ({escape(v.flavor)})")
    rows: list[tuple[str, str]] = [
        ("digest", v.artifact),
        ("created", f"{when(v.created_at)} by {v.created_by}"),
        ("aliases", ", ".join(v.aliases) or "-"),
    ]
    if v.signature is not None:
        s = v.signature
        rows.append(("signature", f"{s.algorithm} by key {s.key_id}, {when(s.signed_at)}"))
    else:
        rows.append(("signature", "none"))
    if v.description:
        rows.append(("description", v.description))
    rows.append(("metrics", metrics_text(v.metrics) or "-"))
    rows.append(("params", ", ".join(f"{k}={x}" for k, x in sorted(v.params.items())) or "-"))
    rows.append(("tags", ", ".join(f"{k}={x}" for k, x in sorted(v.tags.items())) or "-"))
    if v.run is not None:
        run = v.run
        made = f"job {run.job_id}, code {run.code_ref or 'unknown'}"
        if run.image:
            made += f", image {run.image}"
        if run.parameters:
            made += ", params " + ", ".join(f"{k}={x}" for k, x in sorted(run.parameters.items()))
        rows.append(("run", made))
    else:
        rows.append(("run", "none recorded"))
    rows.append(("inputs", ", ".join(v.inputs) or "-"))
    if v.io_signature:
        rows.append(("io signature", json.dumps(v.io_signature, sort_keys=True)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"  {key:<{width}}  {escape(value)}", highlight=False, soft_wrap=True)
