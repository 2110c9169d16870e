"""`aiplane endpoints apply|list|show|delete`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json, table
from aiplane.wire.endpoints import EndpointOut

app = typer.Typer(
    help="Models and servers served at sites behind the gateway.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]

LIST_COLUMNS = ["endpoint", "team", "serves", "gen", "sites", "ready/wanted"]
SITE_COLUMNS = ["site", "role", "version", "wanted", "running", "ready", "why"]
REPLICA_COLUMNS = ["job", "site", "role", "version", "state", "address", "ready", "$/h", "served"]


def _serves(e: EndpointOut) -> str:
    return str(e.spec.get("model") or e.spec.get("command") or "")


def list_rows(items: list[EndpointOut]) -> list[list[Any]]:
    rows = []
    for e in items:
        ready = sum(s.ready for s in e.sites)
        wanted = sum(s.wanted for s in e.sites)
        sites = ", ".join(dict.fromkeys(s.site for s in e.sites))
        rows.append([e.name, e.team, _serves(e), e.generation, sites, f"{ready}/{wanted}"])
    return rows


def guards_line(spec: dict[str, Any]) -> str | None:
    """``guards: injection block, pii redact (restored; email, card), canary flag``: what
    the gateway does on this endpoint's requests and answers; None without guards."""
    guards = spec.get("guards")
    if not isinstance(guards, dict) or not guards:
        return None
    parts = []
    for name in ("injection", "pii", "output_pii", "canary"):
        action = guards.get(name)
        if action is None:
            continue
        notes = []
        if name == "pii" and action == "redact":
            notes.append("restored" if guards.get("restore_pii", True) else "kept redacted")
        if name in ("pii", "output_pii") and guards.get("pii_types"):
            notes.append(", ".join(guards["pii_types"]))
        parts.append(f"{name} {action}" + (f" ({'; '.join(notes)})" if notes else ""))
    return "guards: " + ", ".join(parts)


def show_endpoint(e: EndpointOut) -> None:
    console.print(
        f"endpoint {e.name} (team {e.team}, generation {e.generation}) serves {_serves(e)}",
        highlight=False,
    )
    guards = guards_line(e.spec)
    if guards is not None:
        console.print(guards, highlight=False, markup=False)
    if e.problem:
        console.print(f"[yellow]{e.problem}[/yellow]")
    site_rows = [
        [s.site, s.role, s.version or "-", s.wanted, s.running, s.ready, s.reason] for s in e.sites
    ]
    table("sites", SITE_COLUMNS, site_rows)
    replica_rows = [
        [
            r.job_id,
            s.site,
            s.role,
            r.version,
            r.state + (" (draining)" if r.draining else ""),
            r.address or "-",
            "yes" if r.ready else "no",
            f"{r.usd_per_hour:.3f}",
            "refused" if r.refused else "yes",
        ]
        for s in e.sites
        for r in s.replicas
    ]
    if replica_rows:
        table("replicas", REPLICA_COLUMNS, replica_rows)
    refused = {r.version: r.refused for s in e.sites for r in s.replicas if r.refused}
    for version, why in sorted(refused.items()):
        # The gateway answers 403 for these: the operator is told why, not only that.
        console.print(f"[red]refused {version}[/red]: {why}", highlight=False)
    if e.events:
        table("recent events", ["kind", "message"], [[ev.kind, ev.message] for ev in e.events])


@app.command("apply")
@handled
def apply(
    file: Annotated[Path, typer.Argument(help="endpoint.yaml to apply")],
    as_json: JsonOpt = False,
) -> None:
    """Create the endpoint FILE describes, or change it (its replicas follow)."""
    from aiplane.specs import read_yaml
    from aiplane.specs.endpoint import endpoint_from_document

    document = read_yaml(file)
    workdir = str(file.resolve().parent)
    endpoint_from_document(document, file.name, workdir)  # its problems now, before any request
    result = connect().endpoints.apply(document, source=file.name, workdir=workdir)
    if as_json:
        print_json(result)
        return
    console.print(f"applied {file} as endpoint {result.name} generation {result.generation}")
    show_endpoint(result)


@app.command("list")
@handled
def list_endpoints(
    team: Annotated[str | None, typer.Option(help="only this team's")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The endpoints of your teams, with their replicas ready and wanted."""
    result = connect().endpoints.list(team)
    if as_json:
        print_json(result.items)
        return
    if not result.items:
        console.print("no endpoints yet: aiplane endpoints apply FILE")
        return
    table("endpoints", LIST_COLUMNS, list_rows(result.items))


@app.command("show")
@handled
def show(
    name: Annotated[str, typer.Argument(help="the endpoint's name")],
    as_json: JsonOpt = False,
) -> None:
    """An endpoint: per site and role the replicas wanted, running and ready; its events."""
    result = connect().endpoints.show(name)
    if as_json:
        print_json(result)
        return
    show_endpoint(result)


@app.command("delete")
@handled
def delete(
    name: Annotated[str, typer.Argument(help="the endpoint's name")],
    as_json: JsonOpt = False,
) -> None:
    """Delete an endpoint; its replicas are cancelled."""
    connect().endpoints.delete(name)
    if as_json:
        print_json({"deleted": name})
        return
    console.print(f"deleted endpoint {name}")
