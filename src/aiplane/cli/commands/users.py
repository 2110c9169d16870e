"""`aiplane users list|create|show|update`: principals, people and service accounts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console, print_json, table, when
from aiplane.wire.identity import PrincipalOut

app = typer.Typer(help="Principals: users and service accounts (admins).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
COLUMNS = ["name", "kind", "global role", "teams", "e-mail", "state"]


def _teams(p: PrincipalOut) -> str:
    return ", ".join(f"{team}:{role}" for team, role in sorted(p.teams.items()))


def _row(p: PrincipalOut) -> list[Any]:
    state = "disabled" if p.disabled else "active"
    return [p.name, p.kind, p.global_role or "-", _teams(p), p.email or "", state]


@app.command("list")
@handled
def list_users(as_json: JsonOpt = False) -> None:
    """Every principal (admins)."""
    users = connect().users.list()
    if as_json:
        print_json(users)
        return
    table(None, COLUMNS, [_row(p) for p in users])


@app.command("create")
@handled
def create(
    name: Annotated[str, typer.Argument(help="unique: lowercase letters, digits, . _ -")],
    service: Annotated[
        bool, typer.Option("--service", help="a service account (CI, a pipeline), not a person")
    ] = False,
    role: Annotated[
        str | None, typer.Option("--role", help="a global role: operator or admin")
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="the user's e-mail")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a principal (admins). Give it a token with `aiplane tokens create --for NAME`."""
    kind = "service" if service else "user"
    created = connect().users.create(name, kind=kind, global_role=role, email=email)
    if as_json:
        print_json(created)
        return
    console.print(f"created {created.kind} {created.name} ({created.id})")


@app.command("show")
@handled
def show(name: str, as_json: JsonOpt = False) -> None:
    """One principal (admins; anyone may show themselves)."""
    p = connect().users.show(name)
    if as_json:
        print_json(p)
        return
    rows: list[list[Any]] = [
        ["name", p.name],
        ["id", p.id],
        ["kind", p.kind],
        ["global role", p.global_role or "-"],
        ["teams", _teams(p) or "-"],
        ["e-mail", p.email or "-"],
        ["signs in with OIDC", "yes" if p.sso else "no"],
        ["state", "disabled" if p.disabled else "active"],
        ["created", when(p.created_at)],
    ]
    table(None, ["field", "value"], rows)


@app.command("update")
@handled
def update(
    name: str,
    role: Annotated[
        str | None, typer.Option("--role", help="global role: operator, admin or none")
    ] = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="let the principal sign in, or refuse it at once"),
    ] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="the e-mail; an empty one clears it")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a principal's global role, e-mail, or whether it may sign in (admins)."""
    changes: dict[str, Any] = {}
    if role is not None:
        changes["global_role"] = role
    if enabled is not None:
        changes["disabled"] = not enabled
    if email is not None:
        changes["email"] = email or None
    if not changes:
        err_console.print("nothing to change: give --role, --enable/--disable or --email")
        raise typer.Exit(2)
    p = connect().users.update(name, **changes)
    if as_json:
        print_json(p)
        return
    table(None, COLUMNS, [_row(p)])
