"""`aiplane demo`: an embedded control plane, the hybrid example fleet, a mix of real work."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from aiplane.cli.client import Client
from aiplane.cli.errors import handled
from aiplane.cli.output import console, duration, print_json, table, where
from aiplane.config import Settings
from aiplane.core.runs import TERMINAL
from aiplane.pricing.catalog import CatalogPriceBook
from aiplane.server import EmbeddedServer
from aiplane.specs import fleet_to_document, load_fleet, read_document, workload_from_document

TERMINAL_STATES = {str(s) for s in TERMINAL}


def _find_examples(given: Path | None) -> Path:
    candidates = [given] if given else [Path.cwd() / "examples"]
    for path in candidates:
        if path is not None and (path / "fleet-hybrid.yaml").is_file():
            return path
    raise typer.BadParameter(
        "cannot find examples/fleet-hybrid.yaml: run from the aiplane checkout or pass --examples",
        param_hint="--examples",
    )


def _progress(jobs: list[dict[str, Any]], elapsed: float) -> Table:
    t = Table(title=f"aiplane demo — {elapsed:.0f}s", header_style="bold")
    for column in ("job", "state", "where", "ran"):
        t.add_column(column)
    for j in jobs:
        ran = duration(j.get("started_at"), j.get("finished_at") or time.time())
        t.add_row(j["name"], j["state"], where(j.get("placement")), ran)
    return t


def _why(explain: dict[str, Any]) -> str:
    """One line: what was chosen and the most telling alternative that was rejected."""
    decisions = explain.get("decisions") or []
    data = decisions[-1]["data"].get("explanation", {}) if decisions else {}
    chosen = data.get("chosen")
    if not chosen:
        return str(explain.get("reason") or "no decision recorded")
    cost = chosen["cost"]
    text = (
        f"{chosen['pricing']} capacity in {chosen['jurisdiction']} at ${cost['usd_per_hour']:.2f}/h"
        f" (est. ${cost['total_usd']:.2f})"
    )
    rejected = data.get("rejected", [])
    telling = next((r for r in rejected if "jurisdiction" in r["detail"]), None) or next(
        (r for r in rejected if r["reason"] in ("capacity", "price")), None
    )
    if telling:
        text += f"; rejected {telling['pool']}: {telling['detail']}"
    elif data.get("why"):
        text += f"; {data['why'].split(';')[0]}"
    return text


@handled
def demo(
    examples: Annotated[
        Path | None, typer.Option(help="examples directory (default: ./examples)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 110.0,
    keep: Annotated[bool, typer.Option(help="keep the demo's home directory")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Run aiplane end to end on this machine in under two minutes.

    Starts an embedded control plane in a fresh home, applies examples/fleet-hybrid.yaml (this
    machine as an on-prem site, emulated cloud and edge sites priced from the catalog), submits
    every workload in examples/workloads/, shows progress, and prints where each ran and why.
    """
    root = _find_examples(examples)
    home = Path(tempfile.mkdtemp(prefix="aiplane-demo-"))
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'aiplane.db'}",
        catalog_dir=None,
        scheduler_interval_s=0.2,
        reconciler_interval_s=0.2,
    )
    ok = False
    try:
        with EmbeddedServer(settings) as server:
            client = Client(server.url, server.token)
            if not as_json:
                console.print(f"embedded control plane at {server.url} (home {home})")
            fleet = load_fleet(root / "fleet-hybrid.yaml", CatalogPriceBook.default())
            client.put("/fleet", {"spec": fleet_to_document(fleet), "source": "fleet-hybrid.yaml"})
            ids = []
            for path in sorted((root / "workloads").glob("*.yaml")):
                document = read_document(path)
                workdir = str(path.resolve().parent)
                workload_from_document(document, path.name, workdir)
                job = client.post(
                    "/jobs", {"spec": document, "source": path.name, "workdir": workdir}
                )
                ids.append(job["id"])
            start = time.monotonic()
            jobs: list[dict[str, Any]] = []
            with Live(console=console, transient=as_json, refresh_per_second=4) as live:
                while time.monotonic() - start < timeout:
                    jobs = [client.get(f"/jobs/{i}") for i in ids]
                    live.update(_progress(jobs, time.monotonic() - start))
                    if all(j["state"] in TERMINAL_STATES for j in jobs):
                        break
                    time.sleep(0.5)
            explains = {i: client.get(f"/jobs/{i}/explain") for i in ids}
            ok = all(j["state"] == "succeeded" for j in jobs)
            if as_json:
                print_json([{"job": j, "explanation": explains[j["id"]]} for j in jobs])
            else:
                rows = [
                    [
                        j["name"],
                        j["state"],
                        where(j.get("placement")),
                        f"${j['placement']['usd_per_hour']:.2f}" if j.get("placement") else "-",
                        duration(j.get("started_at"), j.get("finished_at")),
                    ]
                    for j in jobs
                ]
                table("where each job ran", ["job", "state", "where", "$/h", "ran"], rows)
                console.print("[bold]why[/]")
                for j in jobs:
                    console.print(f"  {j['name']}: {_why(explains[j['id']])}", highlight=False)
                console.print("emulated = declared capacity, each replica a real local process")
            if not ok:
                unfinished = [j for j in jobs if j["state"] != "succeeded"]
                for j in unfinished:
                    console.print(f"[red]{j['name']} ended {j['state']}: {j.get('reason')}[/]")
    finally:
        if ok and not keep:
            shutil.rmtree(home, ignore_errors=True)
        elif not as_json:
            console.print(f"demo files kept in {home}")
    if not ok:
        raise typer.Exit(1)
