"""`aiplane tokens create|list|revoke`."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json, table, when
from aiplane.core.errors import Problem, SpecError

app = typer.Typer(help="API tokens: yours, or (admins) anyone's.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([1-9][0-9]*)([smhd])")


def parse_expiry(text: str) -> float:
    """``30d``, ``12h``, ``90m`` or ``3600s`` in seconds."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise SpecError(
            "invalid --expires",
            [Problem("--expires", "not a lifetime", text, "a whole number and s, m, h or d: 30d")],
        )
    return float(int(found.group(1)) * _UNITS[found.group(2)])


@app.command("create")
@handled
def create(
    name: Annotated[str, typer.Argument(help="what the token is for")],
    principal: Annotated[
        str | None, typer.Option("--for", help="whose token (admins); default your own")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="lifetime: 30d, 12h, 90m, 3600s; default none")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token. It is shown once and stored only as a hash."""
    lifetime = parse_expiry(expires) if expires is not None else None
    result = connect().tokens.create(name, principal, lifetime)
    if as_json:
        print_json(result)
        return
    until = f", expires {when(result.expires_at)}" if result.expires_at else ""
    console.print(f"token {result.name!r} ({result.id}) for {result.principal}{until}, shown once:")
    console.print(result.token, highlight=False, soft_wrap=True)


@app.command("list")
@handled
def list_tokens(
    principal: Annotated[
        str | None, typer.Option("--for", help="another principal's tokens (admins)")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="every principal's tokens (admins)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tokens, newest first: their prefix and state, never the token itself."""
    items = connect().tokens.list(principal, every=every)
    if as_json:
        print_json(items)
        return
    rows = [
        [
            t.id,
            t.name,
            t.principal,
            t.prefix + "…",
            t.state,
            when(t.created_at),
            when(t.expires_at),
            t.scope_job_id or "",
        ]
        for t in items
    ]
    columns = ["id", "name", "principal", "prefix", "state", "created", "expires", "job"]
    table(None, columns, rows)


@app.command("revoke")
@handled
def revoke(token_id: Annotated[str, typer.Argument(help="the token's id (tok-...)")]) -> None:
    """Revoke a token: it is refused from the next request on."""
    connect().tokens.revoke(token_id)
    console.print(f"revoked {token_id}")
