"""`aiplane drift check|profile`: a current window against a reference, from files, here.

The work is the drift service's (``services/drift.py``), which the CLI gets from its local
composition (``aiplane.standalone``), imported inside the commands; options and printing are
this module's.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from aiplane.cli.errors import handled
from aiplane.cli.output import console
from aiplane.core.errors import Problem, SpecError

if TYPE_CHECKING:
    # The engine (numpy, scipy) loads when a drift command runs, not with every command.
    from aiplane.core.drift import DriftReport

app = typer.Typer(
    help="Drift: compare a current window of data with a reference (Parquet or CSV), here.",
    no_args_is_help=True,
)


class Mode(StrEnum):
    CALIBRATED = "calibrated"
    COMPATIBLE = "compatible"


Reference = Annotated[
    Path,
    typer.Argument(
        help="the reference: a Parquet or CSV file, or a profile (.json) from `drift profile`",
        metavar="REFERENCE",
        show_default=False,
    ),
]
Columns = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="comma-separated columns to test (default: every numeric or categorical one)",
    ),
]


def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise SpecError("no columns given", [Problem("--columns", "empty", given=repr(value))])
    return names


@app.command("check")
@handled
def check(
    reference: Reference,
    current: Annotated[
        Path,
        typer.Argument(
            help="the current window: a Parquet or CSV file", metavar="CURRENT", show_default=False
        ),
    ],
    mode: Annotated[
        Mode,
        typer.Option(
            help="calibrated: p-values with FDR control; compatible: Evidently's defaults"
        ),
    ] = Mode.CALIBRATED,
    columns: Columns = None,
    fdr: Annotated[
        float,
        typer.Option(help="false-discovery rate across columns (calibrated)", min=0.0, max=1.0),
    ] = 0.05,
    min_effect: Annotated[
        float | None,
        typer.Option(
            help="practical minimum effect (normed Wasserstein, JS distance) to call drift"
        ),
    ] = None,
    drift_share: Annotated[
        float, typer.Option(help="share of drifted columns for dataset drift", min=0.0, max=1.0)
    ] = 0.5,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON line")] = False,
) -> None:
    """Test each column of CURRENT against REFERENCE: which drifted, and the dataset."""
    from aiplane.core.drift import DriftMode, DriftOptions
    from aiplane.standalone import drift_service

    options = DriftOptions(
        mode=DriftMode(mode.value), fdr=fdr, min_effect=min_effect, drift_share=drift_share
    )
    result = drift_service().check(reference, current, options, _columns(columns))
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        return
    _table(result.report)
    t = result.timings
    console.print(f"read {t.read_s:.2f}s, profile {t.profile_s:.2f}s, check {t.check_s:.2f}s")


@app.command("profile")
@handled
def profile(
    reference: Annotated[
        Path, typer.Argument(help="a Parquet or CSV file", metavar="REFERENCE", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="where to write the profile (.json)")],
    columns: Columns = None,
) -> None:
    """Profile REFERENCE once (quantile edges, category counts): checks skip its rows."""
    from aiplane.standalone import drift_service

    if out.suffix.lower() != ".json":
        raise SpecError(
            "a profile is JSON", [Problem("--out", "must end in .json", given=str(out))]
        )
    saved, t = drift_service().save_profile(reference, out, _columns(columns))
    console.print(
        f"{len(saved.columns)} columns, {saved.rows} rows -> {out} "
        f"(read {t.read_s:.2f}s, profile {t.profile_s:.2f}s)"
    )


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}"


_FIGURES = frozenset({"score", "p-value", "threshold", "effect"})


def _table(report: DriftReport) -> None:
    # A rule under the header, no edges, one space between columns (the box's), figures
    # never cut: at 80 columns only the names and the measure wrap.
    table = Table(
        title=f"drift ({report.mode.value}): {report.rows_reference} reference rows, "
        f"{report.rows_current} current",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0),
    )
    ranked = sorted(
        report.columns, key=lambda c: (not c.drifted, -(c.effect if c.effect == c.effect else 0.0))
    )
    rows = [
        [
            c.type,
            c.test,
            _number(c.score),
            _number(c.q_value if c.q_value is not None else c.p_value),
            _number(c.threshold),
            _number(c.effect),
        ]
        for c in ranked
    ]
    # The names and the effect's measure wrap when space runs out; the figures never do.
    table.add_column("column", overflow="fold", min_width=6)
    for at, heading in enumerate(("type", "test", "score", "p-value", "threshold", "effect")):
        width = max([len(heading), *(len(row[at]) for row in rows)])
        justify: Literal["left", "right"] = "right" if heading in _FIGURES else "left"
        table.add_column(heading, no_wrap=True, justify=justify, min_width=width)
    table.add_column("measure", overflow="fold")
    table.add_column("drifted", no_wrap=True, min_width=7)
    for c, cells in zip(ranked, rows, strict=True):
        drifted = Text("yes", style="bold red") if c.drifted else Text("no")
        table.add_row(Text(c.name), *cells, Text(c.effect_name), drifted)
    console.print(table)
    verdict = "[bold red]drifted[/]" if report.dataset_drift else "not drifted"
    console.print(f"dataset: {verdict} ({report.share_drifted:.0%} of columns drifted)")
