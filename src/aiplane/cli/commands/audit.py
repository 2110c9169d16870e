"""`aiplane audit log|verify|export`: the hash-chained audit log (admins)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from aiplane.cli.arguments import instant
from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console, print_json, table, when
from aiplane.cli.paths import output_file
from aiplane.exits import EXIT_FAILURE

app = typer.Typer(
    help="The audit log: every change and every refusal, hash-chained and signed (admins).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
COLUMNS = ("seq", "time", "actor", "action", "resource", "outcome")


@app.command("log")
@handled
def log(
    since: Annotated[
        str | None,
        typer.Option(help="from: YYYY-MM-DD[THH:MM[:SS]][Z] (UTC), or epoch seconds"),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="only this principal's entries")] = None,
    resource: Annotated[
        str | None, typer.Option(help="kind/id (job/j-1), or a prefix ending in / (job/)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="the newest this many")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The newest entries that match, oldest first."""
    instant(since, "--since")
    entries = connect().audit.log(since=since, actor=actor, resource=resource, limit=limit)
    if as_json:
        print_json(entries)
        return
    rows = [[e.seq, when(e.at), e.actor, e.action, e.resource, e.outcome] for e in entries]
    table(None, COLUMNS, rows)


@app.command("verify")
@handled
def verify(
    expect: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH, a head an earlier verify printed and you kept elsewhere: "
            "catches a log cut back together with its head"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every entry's hash, link and signature, and the head. Exit 0 when the log is
    intact, 1 when not (naming the first bad entry and why)."""
    result = connect().audit.verify(expect)
    if as_json:
        print_json(result)
    elif result.ok:
        console.print(f"audit log intact: {result.checked} entries checked")
        if result.head is not None:
            console.print("head (keep it elsewhere; pass it later as --expect):")
            console.print(result.head.text(), highlight=False, soft_wrap=True)
    else:
        err_console.print(
            f"[bold red]audit log broken[/] at entry {result.first_bad}: "
            f"{escape(result.problem or 'bad entry')}",
            highlight=False,
        )
        good = result.head.text() if result.head is not None else "none (from the first entry)"
        err_console.print(f"last good entry: {good}", highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command("export")
@handled
def export(
    out: Annotated[
        Path | None, typer.Option("-o", "--output", help="write here; default stdout")
    ] = None,
) -> None:
    """The whole log as JSON lines, one entry a line, in sequence order."""
    if out is not None:
        output_file(out, "--output")
    client = connect()
    if out is None:
        client.audit.export(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    written = client.audit.export(out)
    err_console.print(f"wrote {written} bytes to {out}", highlight=False)
