"""The `aiplane` command."""

from __future__ import annotations

import typer

from aiplane import __version__
from aiplane.cli.commands import (
    audit,
    cost,
    datasets,
    demo,
    drift,
    endpoints,
    fleet,
    gateway,
    guard,
    jobs,
    model_governance,
    server,
    sim,
    teams,
    tokens,
    users,
    whoami,
)

app = typer.Typer(
    name="aiplane",
    help=(
        "aiplane: the control plane for AI compute across cloud, on-premise and edge.\n\n"
        "Start with `aiplane demo`. The CLI talks to the local control plane under "
        "$AIPLANE_HOME (default ~/.aiplane), starting it when needed, or to AIPLANE_URL "
        "with AIPLANE_TOKEN."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("up")(server.up)
app.command("down")(server.down)
app.command("demo")(demo.demo)
app.command("submit")(jobs.submit)
app.command("simulate")(sim.simulate)
app.command("plan")(sim.plan)
app.command("whoami")(whoami.whoami)
app.command("gateway", help=gateway.HELP)(gateway.gateway)
app.add_typer(fleet.app, name="fleet")
app.add_typer(jobs.app, name="jobs")
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.app, name="users")
app.add_typer(teams.app, name="teams")
app.add_typer(cost.app, name="cost")
app.add_typer(audit.app, name="audit")
app.add_typer(model_governance.models_group, name="models")
app.add_typer(datasets.app, name="datasets")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(guard.app, name="guard")
app.add_typer(drift.app, name="drift")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aiplane {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version"
    ),
) -> None:
    pass


def main() -> None:
    app()
