"""`aiplane tokens create`."""

from __future__ import annotations

from typing import Annotated

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command("create")
@handled
def create(
    name: Annotated[str, typer.Argument(help="what the token is for")],
    principal: Annotated[
        str | None, typer.Option("--for", help="whose token (admin); default your own")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Create a token. It is shown once and stored only as a hash."""
    result = connect().tokens.create(name, principal)
    if as_json:
        print_json(result)
        return
    console.print(f"token {result.name!r} for {result.principal}, shown once:")
    console.print(result.token, highlight=False)
