"""`aiplane demo`: an embedded control plane, the hybrid example fleet, a mix of real work."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from aiplane.cli.arguments import finite
from aiplane.cli.commands import demo_serving
from aiplane.cli.errors import handled
from aiplane.cli.output import console, duration, print_json, table, where
from aiplane.client import Client
from aiplane.discovery import LocalHome
from aiplane.wire.jobs import ExplanationOut, JobOut


def _find_examples(given: Path | None) -> Path:
    candidates = [given] if given else [Path.cwd() / "examples"]
    for path in candidates:
        if path is not None and (path / "fleet-hybrid.yaml").is_file():
            return path
    raise typer.BadParameter(
        "cannot find examples/fleet-hybrid.yaml: run from the aiplane checkout or pass --examples",
        param_hint="--examples",
    )


def _progress(jobs: list[JobOut], elapsed: float) -> Table:
    t = Table(title=f"aiplane demo — {elapsed:.0f}s", header_style="bold")
    for column in ("job", "state", "where", "ran"):
        t.add_column(column)
    for j in jobs:
        ran = duration(j.started_at, j.finished_at or time.time())
        t.add_row(j.name, j.state, where(j.placement), ran)
    return t


def _why(explain: ExplanationOut) -> str:
    """One line: what was chosen and the most telling alternative that was rejected."""
    decisions = explain.decisions
    data = decisions[-1].data.get("explanation", {}) if decisions else {}
    chosen = data.get("chosen")
    if not chosen:
        return str(explain.reason or "no decision recorded")
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


# The demo's server sees only these settings, whatever this shell's AIPLANE_* say.
DEMO_ENV = {"AIPLANE_SCHEDULER_INTERVAL_S": "0.2", "AIPLANE_RECONCILER_INTERVAL_S": "0.2"}


@contextmanager
def _server(home: LocalHome) -> Iterator[Client]:
    """A control plane over ``home`` in a child process, stopped on the way out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLANE_")}
    process = home.spawn({**env, **DEMO_ENV}, detach=False)
    try:
        info = home.wait_until_up(process, None)
        with Client(info.url, home.token()) as client:
            yield client
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def home_token(home: Path) -> str:
    token = LocalHome(home).token()
    if token is None:
        raise typer.BadParameter(f"the demo's control plane wrote no token under {home}")
    return token


def _report(
    jobs: list[JobOut],
    explains: dict[str, ExplanationOut],
    phases: list[demo_serving.Phase],
    as_json: bool,
) -> None:
    if as_json:
        print_json(
            {
                "jobs": [{"job": j, "explanation": explains[j.id]} for j in jobs],
                "serving": [
                    {"phase": p.name, "by_site": dict(p.by_site), "failed": p.failed}
                    for p in phases
                ],
            }
        )
        return
    rows = [
        [
            j.name,
            j.state,
            where(j.placement),
            f"${j.placement.usd_per_hour:.2f}" if j.placement else "-",
            duration(j.started_at, j.finished_at),
        ]
        for j in jobs
    ]
    table("where each job ran", ["job", "state", "where", "$/h", "ran"], rows)
    console.print("[bold]why[/]")
    for j in jobs:
        console.print(f"  {j.name}: {_why(explains[j.id])}", highlight=False)
    console.print("emulated = declared capacity, each replica a real local process")
    console.print(f"[bold]serving[/] endpoint {demo_serving.ENDPOINT} through the gateway")
    for phase in phases:
        console.print(f"  {phase.describe()}", highlight=False)
    if not phases:
        console.print("[red]  the endpoint had no ready replica at both sites in time[/]")


@handled
def demo(
    examples: Annotated[
        Path | None, typer.Option(help="examples directory (default: ./examples)")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1.0, callback=finite, help="give up after this many seconds")
    ] = 110.0,
    keep: Annotated[bool, typer.Option(help="keep the demo's home directory")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Run aiplane end to end on this machine in under two minutes.

    Starts an embedded control plane in a fresh home, applies examples/fleet-hybrid.yaml (this
    machine as an on-prem site, emulated cloud and edge sites priced from the catalog), submits
    every workload in examples/workloads/, shows progress, and prints where each ran and why.
    Then serves examples/endpoints/scorer.yaml at the edge site with a cloud fallback: requests
    from EU users go through the gateway to the edge, the edge replicas are stopped, and the
    traffic moves to the cloud site.
    """
    from aiplane.core.runs import TERMINAL
    from aiplane.specs import fleet_to_document, load_fleet, read_document, workload_from_document

    terminal = {str(s) for s in TERMINAL}

    root = _find_examples(examples)
    home = Path(tempfile.mkdtemp(prefix="aiplane-demo-"))
    ok = False
    try:
        with _server(LocalHome(home)) as client:
            if not as_json:
                console.print(f"local control plane at {client.url} (home {home})")
            fleet = load_fleet(root / "fleet-hybrid.yaml")
            client.fleet.apply(fleet_to_document(fleet), source="fleet-hybrid.yaml")
            # Its replicas start beside the jobs; requests go to it once the jobs are done.
            demo_serving.apply_endpoint(client, root)
            ids = []
            for path in sorted((root / "workloads").glob("*.yaml")):
                document = read_document(path)
                workdir = str(path.resolve().parent)
                workload_from_document(document, path.name, workdir)
                ids.append(client.jobs.submit(document, source=path.name, workdir=workdir).id)
            start = time.monotonic()
            jobs: list[JobOut] = []
            with Live(console=console, transient=as_json, refresh_per_second=4) as live:
                while time.monotonic() - start < timeout:
                    jobs = [client.jobs.show(i) for i in ids]
                    live.update(_progress(jobs, time.monotonic() - start))
                    if all(j.state in terminal for j in jobs):
                        break
                    time.sleep(0.5)
            explains = {i: client.jobs.explain(i) for i in ids}
            # No job seen is no success: all() of nothing is True.
            jobs_ok = bool(jobs) and all(j.state == "succeeded" for j in jobs)
            left = max(10.0, timeout - (time.monotonic() - start))
            served, phases = demo_serving.run(client, home_token(home), left)
            ok = jobs_ok and served
            _report(jobs, explains, phases, as_json)
            if not ok:
                unfinished = [j for j in jobs if j.state != "succeeded"]
                for j in unfinished:
                    console.print(f"[red]{j.name} ended {j.state}: {j.reason}[/]")
    finally:
        if ok and not keep:
            shutil.rmtree(home, ignore_errors=True)
        elif not as_json:
            console.print(f"demo files kept in {home}")
    if not ok:
        raise typer.Exit(1)
