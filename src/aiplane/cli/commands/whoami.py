"""`aiplane whoami`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import print_json, table


@handled
def whoami(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Who the CLI acts as: principal, roles and how it signed in."""
    me = connect().whoami()
    if as_json:
        print_json(me)
        return
    teams = ", ".join(f"{team}:{role}" for team, role in sorted(me.teams.items()))
    rows: list[list[Any]] = [
        ["name", me.name],
        ["kind", me.kind],
        ["global role", me.global_role or "-"],
        ["teams", teams or "-"],
        ["via", me.via],
    ]
    if me.scope_job_id:
        rows.append(["acts on job", me.scope_job_id])
    table(None, ["field", "value"], rows)
