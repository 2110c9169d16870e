"""`aiplane models register|list|show|versions|get|tag|download|verify|lineage|import`: the
registry's models, their versions and files. Approvals, promotion, history, policies and
sharing are in ``model_governance.py`` on the same command group."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from aiplane.cli.arguments import numbers, pairs
from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.lineage_view import lineage_tree
from aiplane.cli.output import console, counted, err_console, print_json, table, when
from aiplane.cli.progress import byte_bar, two_phase_bar
from aiplane.cli.registry_inputs import folder_bytes, io_signature
from aiplane.cli.registry_output import VERSION_COLUMNS, print_version, version_row
from aiplane.core.errors import Problem, SpecError
from aiplane.core.registry.records import Flavor
from aiplane.exits import EXIT_FAILURE

app = typer.Typer(
    help="Registered models: versions with signed, content-addressed files, their lineage, "
    "aliases (name@production) moved only by governed promotion, and their history.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
RefArg = Annotated[
    str, typer.Argument(help="NAME@N, NAME@ALIAS (NAME@production) or NAME (its latest)")
]
FolderOpt = Annotated[
    Path,
    typer.Option(
        "--path", exists=True, file_okay=False, dir_okay=True, help="the folder of its files"
    ),
]


@app.command("register")
@handled
def register(
    name: Annotated[str, typer.Argument(help="the model's name, e.g. fraud")],
    path: FolderOpt,
    team: Annotated[str, typer.Option("--team", help="the team that owns the model")],
    flavor: Annotated[
        Flavor | None, typer.Option("--flavor", help="default: told from the files")
    ] = None,
    from_run: Annotated[
        str | None,
        typer.Option(
            "--from-run",
            help="the job that made it, for its lineage (code, parameters, inputs); "
            "default inside a workload: that job (AIPLANE_JOB_ID)",
        ),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="an evaluation result: auc=0.91")
    ] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="a parameter: lr=0.1")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="a tag: stage=candidate")] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", help="a dataset version it was trained on: clicks@3"),
    ] = None,
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature", exists=True, dir_okay=False, help="its input/output signature, JSON"
        ),
    ] = None,
    description: Annotated[str, typer.Option("--description", help="a line about it")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Register the files under --path as the next version of NAME.

    Only the files the registry lacks are uploaded (identical files are stored once); the
    version is signed with the team's key, and its lineage comes from --from-run.

    Examples:

      aiplane models register fraud --path out/ --team risk --metric auc=0.93 --input clicks@3

      aiplane models register fraud --path out/ --team risk --from-run j-42 --json
    """
    metrics = numbers(metric, "--metric")
    params = pairs(param, "--param")
    tags = pairs(tag, "--tag")
    document = io_signature(signature)
    run = from_run if from_run is not None else os.environ.get("AIPLANE_JOB_ID") or None
    total = folder_bytes(path)
    client = connect()
    with two_phase_bar("hashing", "uploading", total, as_json) as (hashing, sending):
        version = client.models.register(
            name,
            path,
            team=team,
            flavor=flavor.value if flavor is not None else None,
            metrics=metrics,
            params=params,
            tags=tags,
            io_signature=document,
            description=description,
            from_run=run,
            inputs=inputs or [],
            progress=sending,
            hashing=hashing,
        )
    if as_json:
        print_json(version)
        return
    key = version.signature.key_id if version.signature else "none (unsigned)"
    console.print(
        f"registered [bold]{escape(version.model)}@{version.version}[/] ({escape(version.flavor)})"
    )
    console.print(f"  digest     {version.artifact}", highlight=False)
    console.print(f"  signed by  {escape(key)}", highlight=False)
    if version.run is not None:
        console.print(f"  from run   {escape(version.run.job_id)}", highlight=False)


@app.command("list")
@handled
def list_models(as_json: JsonOpt = False) -> None:
    """The models of your teams (`models show NAME` for one's aliases and latest version)."""
    found = connect().models.list().items
    if as_json:
        print_json(found)
        return
    # The listing may leave out each model's latest version and aliases (show has them): a
    # column of dashes would read as "none", so it is shown only when the server filled it.
    latest = any(m.latest_version is not None for m in found)
    aliases = any(m.aliases for m in found)
    columns = ["name", "team", *(["latest"] if latest else []), *(["aliases"] if aliases else [])]
    rows = [
        [
            m.name,
            m.team,
            *([m.latest_version if m.latest_version is not None else "-"] if latest else []),
            *([", ".join(f"{a.name}={a.version}" for a in m.aliases)] if aliases else []),
            ", ".join(m.shared_with),
            when(m.created_at),
        ]
        for m in found
    ]
    table(None, [*columns, "shared with", "created"], rows)


@app.command("show")
@handled
def show(name: Annotated[str, typer.Argument(help="the model")], as_json: JsonOpt = False) -> None:
    """A model: its team, its aliases (who moved each, when) and its latest version."""
    client = connect()
    model = client.models.show(name)
    if as_json:
        print_json(model)
        return
    console.print(f"[bold]{escape(model.name)}[/] (team {escape(model.team)})")
    console.print(f"  created {when(model.created_at)} by {escape(model.created_by)}")
    if model.description:
        console.print(f"  {escape(model.description)}")
    latest = model.latest_version if model.latest_version is not None else "none yet"
    console.print(f"  latest version: {latest}")
    if model.shared_with:
        console.print(f"  shared with: {escape(', '.join(model.shared_with))}")
    rows = [[a.name, a.version, when(a.moved_at), a.moved_by] for a in model.aliases]
    table("aliases", ["alias", "version", "moved", "by"], rows)


@app.command("versions")
@handled
def versions(
    name: Annotated[str, typer.Argument(help="the model")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="the newest this many")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The model's versions, newest first."""
    page = connect().models.versions(name, limit=limit)
    if as_json:
        print_json(page)
        return
    table(None, VERSION_COLUMNS, [version_row(v) for v in page.items])


@app.command("get")
@handled
def get(ref: RefArg, as_json: JsonOpt = False) -> None:
    """One version: flavour, digest, signature, metrics, tags, run, inputs, aliases.

    Also its parameters, description and input/output signature.

    Example: aiplane models get fraud@production
    """
    client = connect()
    version = client.models.get(ref)
    if not version.aliases:
        # The version route may answer without the aliases that hold it (the model's do):
        # they are part of what `get` promises, so they are asked for where it left them out.
        held = [
            a.name
            for a in client.models.show(version.model).aliases
            if a.version == version.version
        ]
        version = version.model_copy(update={"aliases": sorted(held)})
    if as_json:
        print_json(version)
        return
    print_version(version)


@app.command("tag")
@handled
def tag_version(
    ref: RefArg,
    tags: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE tags to set")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="a tag to remove")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set or remove tags of a version.

    Example: aiplane models tag fraud@7 stage=shadow owner=ana --remove draft
    """
    changes: dict[str, str | None] = dict(pairs(tags, "tags"))
    for key in remove or ():
        if key in changes:
            raise SpecError(
                "a tag both set and removed",
                [Problem("--remove", "also set", key, "set it or remove it")],
            )
        changes[key] = None
    if not changes:
        raise SpecError(
            "nothing to change",
            [Problem("tags", "none given", None, "KEY=VALUE to set, --remove KEY to remove")],
        )
    version = connect().models.update(ref, changes)
    if as_json:
        print_json(version)
        return
    shown = ", ".join(f"{k}={v}" for k, v in sorted(version.tags.items())) or "none"
    console.print(f"{escape(version.model)}@{version.version} tags: {escape(shown)}")


@app.command("download")
@handled
def download(
    ref: RefArg,
    to: Annotated[
        Path, typer.Option("--to", file_okay=False, help="the folder to write its files into")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Download the version's files into --to, each checked against its digest.

    A file already there with its digest is kept; an interrupted download resumes.

    Example: aiplane models download fraud@production --to serving/
    """
    client = connect()
    version = client.models.get(ref)
    pinned = f"{version.model}@{version.version}"
    total = client.models.manifest(pinned).size
    with byte_bar("downloading", total, as_json) as update:
        manifest = client.models.download(pinned, to, update)
    if as_json:
        print_json({"ref": pinned, "to": str(to), "manifest": manifest})
        return
    console.print(
        f"{pinned}: {counted(manifest.file_count, 'file')}, {counted(manifest.size, 'byte')} "
        f"into {escape(str(to))}, "
        "each verified",
        highlight=False,
    )


@app.command("verify")
@handled
def verify(ref: RefArg, as_json: JsonOpt = False) -> None:
    """Check the stored files and the signature: exit 0 when intact, 1 when not.

    Every stored file is re-hashed; each one that differs (changed, missing) is named, and
    why the signature does not hold.

    Example: aiplane models verify fraud@production
    """
    result = connect().models.verify(ref)
    if as_json:
        print_json(result)
    elif result.ok:
        console.print(
            f"{escape(result.ref)} intact: {counted(result.files, 'file')}, "
            f"{counted(result.bytes, 'byte')}, "
            f"signature valid ({result.artifact})",
            highlight=False,
        )
    else:
        err_console.print(
            f"[bold red]{escape(result.ref)} is not as registered[/] ({result.artifact})",
            highlight=False,
        )
        for p in result.problems:
            line = f"  - {p.get('location')}: {p.get('message')}"
            if p.get("given") is not None:
                line += f" (found: {p['given']})"
            if p.get("allowed") is not None:
                line += f"; registered: {p['allowed']}"
            err_console.print(line, highlight=False, markup=False, soft_wrap=True)
        if result.signature is not None and not any(
            str(p.get("location", "")).startswith("signature") for p in result.problems
        ):
            err_console.print(f"  - signature: {result.signature}", highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(EXIT_FAILURE)


class LineageFormat(StrEnum):
    TREE = "tree"
    DOT = "dot"
    JSON = "json"


@app.command("lineage")
@handled
def lineage(
    ref: RefArg,
    form: Annotated[
        LineageFormat, typer.Option("--format", help="a Rich tree, Graphviz DOT or JSON")
    ] = LineageFormat.TREE,
    as_json: JsonOpt = False,
) -> None:
    """Where the version came from and where it went.

    Dataset versions -> the run that read them (job, code reference, parameters) -> this
    version -> its deployments.

    Examples:

      aiplane models lineage fraud@production

      aiplane models lineage fraud@7 --format dot | dot -Tsvg > fraud.svg
    """
    chosen = LineageFormat.JSON if as_json else form
    graph = connect().models.lineage(ref)
    if chosen is LineageFormat.JSON:
        print_json(graph)
    elif chosen is LineageFormat.DOT:
        typer.echo(graph.dot, nl=False)
    else:
        console.print(lineage_tree(graph, ref))


@app.command("import")
@handled
def import_mlflow(
    from_mlflow: Annotated[
        str,
        typer.Option(
            "--from-mlflow", help="an MLflow tracking URI: http(s)://host:port or a folder"
        ),
    ],
    team: Annotated[str, typer.Option("--team", help="the team that owns what is imported")],
    as_json: JsonOpt = False,
) -> None:
    """Import registered models from MLflow into --team.

    Their versions, aliases, metrics and artifacts, from a tracking server or a file store.

    Example: aiplane models import --from-mlflow http://mlflow.internal:5000 --team risk
    """
    report = connect().models.import_mlflow(from_mlflow, team)
    if as_json:
        print_json(report)
        return
    console.print(
        f"imported {counted(len(report.models), 'model')} "
        f"({escape(', '.join(report.models)) or 'none'}), {counted(report.versions, 'version')}, "
        f"{counted(report.aliases, 'alias', 'aliases')}",
        highlight=False,
    )
    for why in report.skipped:
        err_console.print(f"  skipped: {escape(why)}", highlight=False)
