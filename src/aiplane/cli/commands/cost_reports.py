"""`aiplane cost report|requests|export|budgets|alerts|anomalies|forecast`: clients of
/api/v1/costs.

Registered on the ``cost`` sub-app in :mod:`aiplane.cli.commands.cost`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiplane.cli.arguments import period
from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console, print_json, table
from aiplane.cli.paths import output_file
from aiplane.wire.costs import BudgetRuleOut, CostReport, Forecast

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", help="start: YYYY-MM-DD[THH:MM[:SS]] (UTC); default: month start"),
]
ToOpt = Annotated[str | None, typer.Option("--to", help="end (exclusive); default: now")]


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


@handled
def report(
    by: Annotated[
        str,
        typer.Option(
            help="team, project, workload, model, endpoint, site, pool, pricing, accelerator"
        ),
    ] = "team",
    start: FromOpt = None,
    end: ToOpt = None,
    share_idle: Annotated[
        bool, typer.Option(help="share idle owned/reserved cost out to teams by use")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Cost by team, workload, model, endpoint, site or pricing model for a period; by
    endpoint with the requests served and the cost per 1,000 requests."""
    period(start, end)
    r = connect().costs.report(by=by, start=start, end=end, share_idle=share_idle)
    if as_json:
        print_json(r)
        return
    if by == "endpoint":
        _by_endpoint(r)
        return
    rows = [
        [
            row.key if row.key is not None else "-",
            _usd(row.usd),
            _usd(row.egress_usd),
            _usd(row.idle_share_usd) if by == "team" else "",
            _usd(row.total_usd),
            f"{row.gpu_hours:,.1f}",
            row.runs,
        ]
        for row in r.rows
    ]
    columns = [
        by,
        "usage",
        "of which egress",
        "idle share" if by == "team" else "",
        "total",
        "GPU-h",
        "runs",
    ]
    table(f"cost by {by}, {r.from_} to {r.to}", columns, rows)
    if r.idle:
        table(
            "idle owned and reserved capacity",
            ["pool", "pricing", "capacity GPU-h", "used GPU-h", "idle GPU-h", "idle"],
            [
                [i.pool, i.pricing]
                + [f"{x:,.1f}" for x in (i.capacity_gpu_hours, i.used_gpu_hours, i.idle_gpu_hours)]
                + [_usd(i.idle_usd)]
                for i in r.idle
            ],
        )
    console.print(f"usage {_usd(r.usage_usd)}, idle {_usd(r.idle_usd)}")


def _count(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def _by_endpoint(r: CostReport) -> None:
    rows = [
        [
            row.key if row.key is not None else "(not an endpoint)",
            _usd(row.total_usd),
            f"{row.gpu_hours:,.1f}",
            _count(row.requests),
            _count(None if row.tokens_in is None else row.tokens_in + (row.tokens_out or 0)),
            # Sub-cent amounts are the usual case per 1k requests: four decimals.
            "-" if row.usd_per_1k_requests is None else f"${row.usd_per_1k_requests:,.4f}",
        ]
        for row in r.rows
    ]
    columns = ["endpoint", "spend", "GPU-h", "requests", "tokens", "per 1k requests"]
    table(f"cost by endpoint, {r.from_} to {r.to}", columns, rows)
    console.print(f"usage {_usd(r.usage_usd)}", highlight=False)


@handled
def requests(
    by: Annotated[str, typer.Option(help="endpoint, team, principal, key")] = "endpoint",
    endpoint: Annotated[str | None, typer.Option(help="one endpoint only")] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Requests and tokens the gateway served, by endpoint, team (the endpoint's), principal
    or key (token), from its hourly counters."""
    period(start, end)
    r = connect().costs.requests(by=by, start=start, end=end, endpoint=endpoint)
    if as_json:
        print_json(r)
        return
    head = ["token", "principal"] if by == "key" else [by]
    rows = [
        [
            *([row.key or "(no token)", row.principal or "-"] if by == "key" else [row.key or "-"]),
            ", ".join(row.endpoints) if by != "endpoint" else row.requests - row.errors,
            row.requests,
            row.errors,
            row.tokens_in,
            row.tokens_out,
        ]
        for row in r.rows
    ]
    columns = [*head, "endpoints" if by != "endpoint" else "ok", "requests", "errors"]
    columns += ["tokens in", "tokens out"]
    table(f"requests by {by}, {r.from_} to {r.to}", columns, rows)
    console.print(f"{r.requests:,} requests, {r.tokens:,} tokens", highlight=False)


FORECAST_KEYS = ("spent_usd", "known_usd", "history_usd", "expected_usd", "low_usd", "high_usd")


def _range(f: Forecast) -> str:
    return f"{_usd(f.expected_usd)} ({_usd(f.low_usd)}-{_usd(f.high_usd)})"


def _rule(r: BudgetRuleOut) -> str:
    replicas = f"({r.replicas}/site)" if r.replicas is not None else ""
    return f"{r.kind}{replicas}@{r.at:g}" + (" on forecast" if r.basis == "forecast" else "")


@handled
def export(
    out: Annotated[Path, typer.Option("--out", help="file to write: .csv, or .parquet")],
    export_format: Annotated[
        str, typer.Option("--format", help="focus (FinOps FOCUS 1.2)")
    ] = "focus",
    start: FromOpt = None,
    end: ToOpt = None,
) -> None:
    """Export cost lines as FinOps FOCUS 1.2 (CSV, or Parquet when --out ends in .parquet)."""
    if export_format != "focus":
        from aiplane.core.errors import Problem, SpecError

        raise SpecError(
            "unknown format", [Problem("--format", "not a format", repr(export_format), "focus")]
        )
    period(start, end)
    output_file(out, "--out")
    api_format = "focus-parquet" if out.suffix.lower() == ".parquet" else "focus"
    written = connect().costs.export(out, format=api_format, start=start, end=end)
    err_console.print(f"wrote {out} ({written:,} bytes, FOCUS 1.2)", highlight=False)


@handled
def budgets(as_json: JsonOpt = False) -> None:
    """Budgets with their spend, forecast, fired rules and the actions in force."""
    items = connect().costs.budgets()
    if as_json:
        print_json(items)
        return
    rows = [
        [
            b.name,
            f"{b.scope} {b.target}",
            b.period,
            _usd(b.amount_usd),
            _usd(b.spent_usd),
            f"{b.share:.0%}",
            _range(b.forecast),
            ", ".join(_rule(r) for r in b.rules if r.fired) or "-",
            ", ".join(b.actions) or "-",
        ]
        for b in items
    ]
    columns = [
        "budget",
        "for",
        "period",
        "amount",
        "spent",
        "share",
        "forecast (80%)",
        "fired",
        "actions",
    ]
    table("budgets", columns, rows)


@handled
def alerts(
    status: Annotated[
        list[str] | None, typer.Option(help="pending, delivered, failed, logged")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Budget alerts raised, and whether their webhook got them."""
    items = connect().costs.alerts(status=status)
    if as_json:
        print_json(items)
        return
    table(
        "budget alerts",
        ["budget", "rule", "status", "attempts", "message"],
        [[a.budget, a.rule, a.status, a.attempts, a.message] for a in items],
    )


@handled
def anomalies(
    by: Annotated[str, typer.Option(help="team or workload")] = "team",
    start: Annotated[str | None, typer.Option("--from", help="default: 7 days ago")] = None,
    end: ToOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hours whose spend is far above the same hour in past weeks, and the runs behind them."""
    period(start, end)
    items = connect().costs.anomalies(by=by, start=start, end=end)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no anomalies")
        return
    table(
        f"spend anomalies by {by}",
        [by, "from", "to", "spent", "usual", "excess"],
        [
            [a.key, a.start, a.end] + [_usd(x) for x in (a.spend_usd, a.baseline_usd, a.excess_usd)]
            for a in items
        ],
    )
    for i, a in enumerate(items, start=1):
        for run in a.runs:
            console.print(f"{i}. {run.explanation}", highlight=False, markup=False)


@handled
def forecast(as_json: JsonOpt = False) -> None:
    """Month-end spend per team: spent so far, known work queued or running, and history."""
    items = connect().costs.forecast()
    if as_json:
        print_json(items)
        return
    table(
        "month-end forecast (80% interval)",
        ["team", "spent", "known work", "history", "expected", "low", "high"],
        [[f.team, *(_usd(getattr(f, k)) for k in FORECAST_KEYS)] for f in items],
    )
