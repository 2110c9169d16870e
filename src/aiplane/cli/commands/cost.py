"""`aiplane cost ...`: what compute costs, and where it is wasted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from aiplane.cli.arguments import finite
from aiplane.cli.commands import cost_reports
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console, print_json, table, when
from aiplane.core.errors import Problem, SpecError

app = typer.Typer(
    help="Costs: reports, requests served, FOCUS export, budgets, anomalies, forecasts, and "
    "waste findings.",
    no_args_is_help=True,
)
app.command("report")(cost_reports.report)
app.command("requests")(cost_reports.requests)
app.command("export")(cost_reports.export)
app.command("budgets")(cost_reports.budgets)
app.command("alerts")(cost_reports.alerts)
app.command("anomalies")(cost_reports.anomalies)
app.command("forecast")(cost_reports.forecast)

# -- waste ------------------------------------------------------------------------------------

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_duration(text: str, location: str) -> float:
    """``"2s"``, ``"15m"``, ``"1.5h"``, ``"90"`` (seconds) -> seconds."""
    match = _DURATION.match(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise SpecError(
            "bad duration",
            [Problem(location, "not a duration", repr(text), "a number with s, m, h or d")],
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


@app.command("waste")
@handled
def waste(
    recording: Annotated[
        Path,
        typer.Option(
            "--recording",
            help="telemetry recording (JSON lines, as the H200 recording) to analyse",
            exists=True,
            dir_okay=False,
        ),
    ],
    min_duration: Annotated[
        str, typer.Option("--min-duration", help="shortest waste worth reporting: 2s, 15m, 1h")
    ] = "15m",
    usd_per_gpu_hour: Annotated[
        float | None,
        typer.Option(
            "--usd-per-gpu-hour",
            min=0.0,
            callback=finite,
            help="price of one GPU-hour (default: cheapest on-demand price in the catalog)",
        ),
    ] = None,
    static: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="static.json of the recorded GPUs (default: the one beside FILE)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Idle, squatting, low-occupancy and memory-bound GPU time in a recording, with the
    GPU-hours and dollars at stake. Runs here, without the control plane."""
    from aiplane import standalone
    from aiplane.core.cost.waste import WastePolicy, find_waste, total_usd
    from aiplane.telemetry.observations import observations

    policy = WastePolicy(min_duration_s=parse_duration(min_duration, "--min-duration"))
    data = standalone.recording(recording, static)
    if usd_per_gpu_hour is None:
        usd_per_gpu_hour, source = standalone.gpu_price(data.gpus[0].name)
        err_console.print(
            f"priced at ${usd_per_gpu_hour:.2f}/GPU-h ({source})", highlight=False, markup=False
        )
    findings = find_waste(observations(data.samples), policy, usd_per_gpu_hour)
    if as_json:
        print_json([f.to_dict() for f in findings])
        return
    rows = [
        [
            i,
            f.kind,
            f.gpu,
            when(f.start),
            f"{f.end - f.start:.1f}s",
            f"{f.gpu_hours:.4f}",
            f"{f.usd:.4f}",
            f"{f.activity * 100:.1f}% {f.basis}",
            f.action,
        ]
        for i, f in enumerate(findings, start=1)
    ]
    columns = ["#", "kind", "gpu", "start (UTC)", "for", "GPU-h", "USD", "activity", "action"]
    table(f"waste in {recording.name}", columns, rows)
    for i, f in enumerate(findings, start=1):
        console.print(f"{i}. {f.recommendation}", highlight=False, markup=False)
    err_console.print(
        f"{len(findings)} findings, ${total_usd(findings):.4f} at stake", highlight=False
    )
