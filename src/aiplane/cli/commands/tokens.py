"""`aiplane tokens create`."""

from __future__ import annotations

from typing import Annotated

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json
from aiplane.core.auth import Role

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command("create")
@handled
def create(
    name: Annotated[str, typer.Argument(help="who or what the token is for")],
    role: Annotated[Role, typer.Option(help="what it may do")] = Role.MEMBER,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Create a token (admin only). It is shown once and stored only as a hash."""
    result = connect().tokens.create(name, role)
    if as_json:
        print_json(result)
        return
    console.print(f"token for {result.name} ({result.role}), shown once:")
    console.print(result.token, highlight=False)
