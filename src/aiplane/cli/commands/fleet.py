"""`aiplane fleet apply|list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json, table
from aiplane.wire.fleet import PoolOut

app = typer.Typer(help="Sites, pools, teams and datasets.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def pool_rows(pools: list[PoolOut]) -> list[list[Any]]:
    rows = []
    for p in pools:
        nodes = str(p.nodes_max) if p.nodes_min == p.nodes_max else f"{p.nodes_min}-{p.nodes_max}"
        accel = f"{p.gpus_per_node}x{p.accelerator}" if p.accelerator else "cpu"
        rows.append(
            [
                p.site,
                p.site_kind,
                p.jurisdiction,
                p.pool,
                p.backend + (" (emulated)" if p.emulated else ""),
                accel,
                nodes,
                p.pricing,
                f"{p.usd_per_node_hour:.2f}",
                f"{p.gpus_used:g}/{p.gpus_total:g}",
            ]
        )
    return rows


COLUMNS = [
    "site",
    "kind",
    "juris.",
    "pool",
    "backend",
    "node",
    "nodes",
    "pricing",
    "$/node-h",
    "GPUs used",
]


@app.command("apply")
@handled
def apply(
    file: Annotated[Path, typer.Argument(help="fleet.yaml to apply")],
    catalog: Annotated[
        Path | None,
        typer.Option(help="directory of price catalog CSVs (SkyPilot schema) for instance_type"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate FILE and make it the fleet in force."""
    from aiplane import standalone
    from aiplane.specs import fleet_to_document, load_fleet

    fleet = load_fleet(file, standalone.configured_catalog(catalog))
    result = connect().fleet.apply(fleet_to_document(fleet), source=file.name)
    if as_json:
        print_json(result)
        return
    console.print(f"applied {file} as fleet version {result.version}")
    table(None, COLUMNS, pool_rows(result.pools))


@app.command("list")
@handled
def list_pools(as_json: JsonOpt = False) -> None:
    """The pools in force and how full they are."""
    result = connect().fleet.show()
    if as_json:
        print_json(result.pools)
        return
    if result.version is None:
        console.print("no fleet applied yet: aiplane fleet apply FILE")
        return
    table(f"fleet v{result.version}", COLUMNS, pool_rows(result.pools))


@app.command("show")
@handled
def show(as_json: JsonOpt = False) -> None:
    """The fleet in force, as the resolved document."""
    result = connect().fleet.show(document=True)
    if as_json:
        print_json(result)
        return
    if result.version is None:
        console.print("no fleet applied yet: aiplane fleet apply FILE")
        return
    import yaml

    console.print(f"# fleet v{result.version}")
    console.print(yaml.safe_dump(result.document, sort_keys=False), highlight=False)
