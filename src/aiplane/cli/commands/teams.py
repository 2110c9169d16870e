"""`aiplane teams members list|add|remove`: who is in a team, with which role."""

from __future__ import annotations

from typing import Annotated

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json, table

app = typer.Typer(help="Teams and their members.", no_args_is_help=True)
members = typer.Typer(
    help="A team's members: viewer, member, approver or owner.", no_args_is_help=True
)
app.add_typer(members, name="members")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@members.command("list")
@handled
def list_members(
    team: Annotated[str, typer.Argument(help="the team")], as_json: JsonOpt = False
) -> None:
    """The team's members and their roles (its members, operators and admins)."""
    found = connect().teams.members(team)
    if as_json:
        print_json(found)
        return
    rows = [[m.name, m.kind, m.role, "disabled" if m.disabled else "active"] for m in found]
    table(None, ["name", "kind", "role", "state"], rows)


@members.command("add")
@handled
def add(
    team: Annotated[str, typer.Argument(help="the team")],
    name: Annotated[str, typer.Argument(help="the principal")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, member, approver or owner")
    ] = "member",
    as_json: JsonOpt = False,
) -> None:
    """Add a principal to the team, or change its role there (the team's owners, admins)."""
    member = connect().teams.add_member(team, name, role)
    if as_json:
        print_json(member)
        return
    console.print(f"{member.name} is {member.role} of team {member.team}")


@members.command("remove")
@handled
def remove(
    team: Annotated[str, typer.Argument(help="the team")],
    name: Annotated[str, typer.Argument(help="the principal")],
) -> None:
    """Take a principal out of the team (the team's owners, admins)."""
    connect().teams.remove_member(team, name)
    console.print(f"{name} is no longer in team {team}")
