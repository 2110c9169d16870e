"""`aiplane datasets register|list|show|versions|get|download|replica add|used-by`: dataset
versions in the registry (content hash, size, files, jurisdiction, replicas at sites) and the
models trained on them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, counted, print_json, table, when
from aiplane.cli.progress import byte_bar, two_phase_bar
from aiplane.cli.registry_inputs import folder_bytes
from aiplane.cli.registry_output import metrics_text, short
from aiplane.wire.registry import DatasetVersionOut

app = typer.Typer(
    help="Registered datasets: content-addressed versions, their replicas at sites, and "
    "which models were trained on them.",
    no_args_is_help=True,
)
replica_app = typer.Typer(help="Where copies of a dataset version are.", no_args_is_help=True)
app.add_typer(replica_app, name="replica")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
RefArg = Annotated[str, typer.Argument(help="NAME@N, or NAME (its latest)")]
NameArg = Annotated[str, typer.Argument(help="the dataset")]
VERSION_COLUMNS = ["version", "digest", "files", "bytes", "jurisdiction", "sites", "created"]


def version_row(v: DatasetVersionOut) -> list[Any]:
    return [
        v.version,
        short(v.artifact),
        v.file_count,
        v.size,
        v.jurisdiction or "-",
        ", ".join(sorted({r.site for r in v.replicas})),
        when(v.created_at),
    ]


@app.command("register")
@handled
def register(
    name: Annotated[str, typer.Argument(help="the dataset's name, e.g. clicks-eu")],
    path: Annotated[
        Path,
        typer.Option("--path", exists=True, file_okay=False, help="the folder of its files"),
    ],
    team: Annotated[str, typer.Option("--team", help="the team that owns the dataset")],
    site: Annotated[str, typer.Option("--site", help="the site this copy of the bytes is at")],
    jurisdiction: Annotated[
        str | None, typer.Option("--jurisdiction", help="where the data may be used: eu, us...")
    ] = None,
    description: Annotated[str, typer.Option("--description", help="a line about it")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Register the files under --path as a version of NAME, with a replica at --site.

    Only the files the registry lacks are uploaded; the same bytes again are the version
    they already are.

    Example: aiplane datasets register clicks-eu --path data/clicks --team ads --site eu-west
    --jurisdiction eu
    """
    total = folder_bytes(path)
    client = connect()
    with two_phase_bar("hashing", "uploading", total, as_json) as (hashing, sending):
        version = client.datasets.register(
            name,
            path,
            team=team,
            site=site,
            jurisdiction=jurisdiction,
            description=description,
            progress=sending,
            hashing=hashing,
        )
    if as_json:
        print_json(version)
        return
    console.print(
        f"registered [bold]{escape(version.dataset)}@{version.version}[/]: "
        f"{counted(version.file_count, 'file')}, {counted(version.size, 'byte')}"
    )
    console.print(f"  digest  {version.artifact}", highlight=False)


@app.command("list")
@handled
def list_datasets(as_json: JsonOpt = False) -> None:
    """The datasets of your teams, and those the fleet declares."""
    found = connect().datasets.list().items
    if as_json:
        print_json(found)
        return
    # As `models list`: the latest version only when the listing carries it.
    latest = any(d.latest_version is not None for d in found)
    rows = [
        [
            d.name,
            d.team or "(fleet)",
            *([d.latest_version if d.latest_version is not None else "-"] if latest else []),
            d.jurisdiction or "-",
            when(d.created_at),
        ]
        for d in found
    ]
    columns = ["name", "team", *(["latest"] if latest else []), "jurisdiction", "created"]
    table(None, columns, rows)


@app.command("show")
@handled
def show(name: NameArg, as_json: JsonOpt = False) -> None:
    """A dataset: its team, jurisdiction and latest version."""
    d = connect().datasets.show(name)
    if as_json:
        print_json(d)
        return
    owner = f"team {d.team}" if d.team else "declared by the fleet"
    console.print(f"[bold]{escape(d.name)}[/] ({escape(owner)})")
    console.print(f"  created {when(d.created_at)} by {escape(d.created_by)}")
    console.print(f"  jurisdiction: {escape(d.jurisdiction or '-')}")
    latest = d.latest_version if d.latest_version is not None else "none yet"
    console.print(f"  latest version: {latest}")
    if d.description:
        console.print(f"  {escape(d.description)}")


@app.command("versions")
@handled
def versions(
    name: NameArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="the newest this many")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The dataset's versions, newest first."""
    page = connect().datasets.versions(name, limit=limit)
    if as_json:
        print_json(page)
        return
    table(None, VERSION_COLUMNS, [version_row(v) for v in page.items])


@app.command("get")
@handled
def get(ref: RefArg, as_json: JsonOpt = False) -> None:
    """One version: digest, size, files, jurisdiction, replicas and table schemas.

    Example: aiplane datasets get clicks-eu@3
    """
    v = connect().datasets.get(ref)
    if as_json:
        print_json(v)
        return
    console.print(f"[bold]{escape(v.dataset)}@{v.version}[/]")
    console.print(f"  digest        {v.artifact}", highlight=False)
    console.print(
        f"  size          {counted(v.size, 'byte')} in {counted(v.file_count, 'file')}",
        highlight=False,
    )
    console.print(f"  jurisdiction  {escape(v.jurisdiction or '-')}", highlight=False)
    console.print(f"  created       {when(v.created_at)} by {escape(v.created_by)}")
    rows = [[r.site, r.uri, when(r.added_at)] for r in v.replicas]
    table("replicas", ["site", "uri", "added"], rows)
    for t in v.tables:
        columns = ", ".join(f"{c.get('name')}: {c.get('type')}" for c in t.columns)
        console.print(f"  table {escape(t.path)}: {t.rows} rows; {escape(columns)}")


@app.command("download")
@handled
def download(
    ref: RefArg,
    to: Annotated[Path, typer.Option("--to", file_okay=False, help="the folder to write into")],
    as_json: JsonOpt = False,
) -> None:
    """Download the version's files into --to, each checked against its digest.

    Example: aiplane datasets download clicks-eu@3 --to /scratch/clicks
    """
    client = connect()
    version = client.datasets.get(ref)
    pinned = f"{version.dataset}@{version.version}"
    with byte_bar("downloading", version.size, as_json) as update:
        manifest = client.datasets.download(pinned, to, update)
    if as_json:
        print_json({"ref": pinned, "to": str(to), "manifest": manifest})
        return
    console.print(
        f"{pinned}: {counted(manifest.file_count, 'file')}, {counted(manifest.size, 'byte')} "
        f"into {escape(str(to))}, "
        "each verified",
        highlight=False,
    )


@replica_app.command("add")
@handled
def replica_add(
    ref: RefArg,
    site: Annotated[str, typer.Option("--site", help="the site the copy is at")],
    uri: Annotated[str, typer.Option("--uri", help="where the copy is: s3://..., /mnt/...")],
    as_json: JsonOpt = False,
) -> None:
    """Record a copy of the version at another site.

    Placement weighs where a workload's inputs are.

    Example: aiplane datasets replica add clicks-eu@3 --site eu-central --uri s3://dc2/clicks
    """
    v = connect().datasets.add_replica(ref, site, uri)
    if as_json:
        print_json(v)
        return
    sites = ", ".join(sorted({r.site for r in v.replicas}))
    console.print(f"{escape(v.dataset)}@{v.version} replicas at: {escape(sites)}")


@app.command("used-by")
@handled
def used_by(
    ref: RefArg,
    alias: Annotated[
        str | None, typer.Option("--alias", help="only the versions this alias holds now")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The model versions trained on a dataset version, with the aliases that hold them.

    Example (which production models were trained on clicks-eu@3?):

      aiplane datasets used-by clicks-eu@3 --alias production
    """
    found = connect().datasets.used_by(ref, alias)
    if as_json:
        print_json(found)
        return
    rows = [
        [f"{v.model}@{v.version}", ", ".join(v.aliases), v.created_by, metrics_text(v.metrics)]
        for v in found.items
    ]
    title = f"trained on {found.dataset}" + (f" and held by {alias}" if alias else "")
    table(title, ["model version", "aliases", "by", "metrics"], rows)
