"""`aiplane submit` and `aiplane jobs list|show|logs|cancel|explain`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from aiplane.cli.arguments import dry_run_alone
from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, duration, err_console, print_json, table, when, where
from aiplane.client import ApiError, Retry, UnreachableError, retryable
from aiplane.wire.jobs import JobOut
from aiplane.wire.placements import PreviewOut

app = typer.Typer(help="Submitted work and its runs.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def job_row(j: JobOut) -> list[Any]:
    return [
        j.id,
        j.name,
        j.team,
        j.kind,
        j.state,
        where(j.placement),
        duration(j.started_at, j.finished_at),
        j.reason or "",
    ]


JOB_COLUMNS = ["id", "name", "team", "kind", "state", "where", "ran", "reason"]


# How long `aiplane submit` keeps trying while nothing listens (connection refused): a control
# plane restarting after a kill -9 takes seconds, and a person who gives up reruns the command
# (decision 0034). Other failures get the client's four tries.
SUBMIT_REFUSED_BUDGET_S = 30.0


def _reraise(exc: Exception) -> None:
    raise exc


@handled
def submit(
    file: Annotated[Path, typer.Argument(help="workload.yaml to submit")],
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="the submission's Idempotency-Key (default: a fresh UUID); run the command "
            "again with the same key and it answers with the job the first run queued",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="queue nothing: show where FILE would be placed on the free capacity now "
            "(the chosen offer, its cost breakdown, the rejected offers and why), or why it "
            "would wait; the queue ahead is not counted. Exit 0 whether it would be placed or "
            "would wait; work a submission would refuse is refused the same way",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate FILE and queue it. Its command runs in FILE's directory. A broken connection
    or an unavailable server is retried with the same Idempotency-Key: never queued twice.
    With --dry-run, nothing is queued (see the option)."""
    from aiplane.specs import read_document, workload_from_document

    dry_run_alone(dry_run, idempotency_key)
    document = read_document(file)
    workdir = str(file.resolve().parent)
    workload_from_document(document, file.name, workdir)  # every problem, named by file
    if dry_run:
        preview = connect().placements.preview(document, source=file.name, workdir=workdir)
        if as_json:
            print_json(preview)
        else:
            print_preview(str(document.get("name", file.name)), preview)
        return
    # The key is made here, not in the client, so that it can be shown when every try failed.
    key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
    retry = Retry(refused_budget_s=SUBMIT_REFUSED_BUDGET_S, notice=_retrying)
    try:
        sent = connect().jobs.submission(
            document, source=file.name, workdir=workdir, idempotency_key=key, retry=retry
        )
    except (UnreachableError, ApiError) as exc:
        if not retryable(exc):
            raise
        # The error as every command reports it (and its exit code), then what to do: a try
        # may have reached the server, and only the same key tells a rerun it did.
        try:
            handled(_reraise)(exc)
        except typer.Exit as reported:
            err_console.print(
                "the job may have been stored; run again with "
                f"--idempotency-key {escape(key)} to be sure it is stored once",
                highlight=False,
                soft_wrap=True,  # a key to copy, never broken across lines
            )
            raise reported from None
        raise
    job = sent.job
    if as_json:
        print_json(job)
        return
    if sent.replayed:
        console.print(
            f"already submitted: {job.name} is [bold]{job.id}[/] ({job.state}) (replayed)"
        )
        return
    console.print(f"submitted {job.name} as [bold]{job.id}[/] ({job.state})")


def _money(value: Any) -> str:
    return f"${value:.2f}" if isinstance(value, int | float) else "-"


def print_preview(name: str, preview: PreviewOut) -> None:
    """A dry run as ``jobs explain`` words a decision: the chosen offer and its cost, then the
    rejected offers. The explanation is the engine's, read as it is (fields it lacks are
    left out), so that a cost model that adds to it is shown without a change here."""
    ignored = f"{preview.queue_ignored} queued run(s) not counted ahead of it"
    verdict = "would be placed now" if preview.outcome == "placed" else "would wait"
    console.print(f"[bold]{escape(name)}[/]: {verdict} (dry run: nothing queued; {ignored})")
    if preview.reason:
        console.print(f"reason: {preview.reason}", highlight=False, markup=False)
    explanation = preview.explanation
    chosen = explanation.get("chosen")
    if chosen:
        cost = chosen.get("cost", {})
        p = preview.placement
        site = p.site if p is not None else "-"
        emulated = " (emulated)" if chosen.get("emulated") else ""
        gpus = f"{chosen.get('gpus_per_replica', 0):g} x {chosen.get('accelerator') or 'cpu'}"
        rows: list[list[Any]] = [
            ["pool", f"{chosen.get('pool', '-')}{emulated}"],
            ["site", f"{site} ({chosen.get('site_kind', '-')}, {chosen.get('jurisdiction')})"],
            ["accelerator", f"{gpus} per replica"],
            ["pricing", chosen.get("pricing", "-")],
        ]
        # What a newer engine adds to the offer (instances, billing) is shown as it comes.
        known = {"pool", "site_kind", "jurisdiction", "accelerator", "gpus_per_replica"}
        known |= {"pricing", "emulated", "cost", "speed"}
        rows += [[key, str(value)] for key, value in chosen.items() if key not in known]
        rows += [
            ["$/h", _money(cost.get("usd_per_hour"))],
            ["hours", f"{cost.get('estimated_hours', 0):.2f}"],
            ["compute", _money(cost.get("compute_usd"))],
            ["egress", _money(cost.get("egress_usd"))],
            ["rework", f"{cost.get('rework_hours', 0):.2f} h"],
            ["total", _money(cost.get("total_usd"))],
        ]
        table("chosen offer", ["field", "value"], rows)
        if explanation.get("why"):
            console.print(f"why: {explanation['why']}", highlight=False, markup=False)
        for key in ("provisioned", "preempted"):
            if explanation.get(key):
                console.print(f"{key}: {', '.join(explanation[key])}", markup=False)
    rejected = explanation.get("rejected", [])
    if rejected:
        table(
            f"rejected ({explanation.get('rejected_total', len(rejected))} in all, "
            f"{len(rejected)} shown)",
            ["pool", "accelerator", "reason", "est. $", "detail"],
            [
                [
                    escape(str(r.get("pool"))),
                    r.get("accelerator") or "-",
                    r.get("reason"),
                    f"{r['total_usd']:.2f}" if r.get("total_usd") is not None else "-",
                    escape(str(r.get("detail"))),
                ]
                for r in rejected
            ],
        )


def _retrying(message: str) -> None:
    err_console.print(escape(message), highlight=False, soft_wrap=True)


@app.command("list")
@handled
def list_jobs(
    state: Annotated[list[str] | None, typer.Option(help="only these states")] = None,
    team: Annotated[str | None, typer.Option(help="only this team")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    before: Annotated[str | None, typer.Option(help="page cursor (a job id)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, newest first."""
    page = connect().jobs.list(state=state, team=team, limit=limit, before=before)
    if as_json:
        print_json(page)
        return
    table(None, JOB_COLUMNS, [job_row(j) for j in page.items])
    if page.next_cursor:
        console.print(f"more: --before {page.next_cursor}")


@app.command("show")
@handled
def show(job_id: str, as_json: JsonOpt = False) -> None:
    """One job: its workload, state and placement."""
    job = connect().jobs.show(job_id)
    if as_json:
        print_json(job)
        return
    p = job.placement
    rows: list[list[Any]] = [
        ["id", job.id],
        ["name", job.name],
        ["team", job.team],
        ["kind", job.kind],
        ["priority", job.priority],
        ["replicas", job.replicas],
        ["state", job.state],
        ["attempt", job.attempt],
        ["submitted", f"{when(job.submitted_at)} by {job.submitted_by}"],
        ["started", when(job.started_at)],
        ["finished", when(job.finished_at)],
        ["ran for", duration(job.started_at, job.finished_at)],
        ["exit code", job.exit_code],
        ["reason", job.reason],
        ["where", where(p)],
        ["price", f"${p.usd_per_hour:.2f}/h" if p else "-"],
        ["nodes", ", ".join(p.nodes) if p else "-"],
        ["command", (job.workload or {}).get("run")],
    ]
    table(None, ["field", "value"], rows)


@app.command("logs")
@handled
def logs(
    job_id: str,
    replica: Annotated[int | None, typer.Option(min=0, help="only this replica")] = None,
    tail: Annotated[int | None, typer.Option(min=1, help="only the last N bytes of each")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Output of the job's replicas."""
    result = connect().jobs.logs(job_id, replica=replica, tail_bytes=tail)
    if as_json:
        print_json(result)
        return
    if not result.replicas:
        console.print("no output yet (the job has not started)")
    for item in result.replicas:
        if len(result.replicas) > 1:
            console.rule(f"replica {item.replica}")
        console.out(item.text, end="", highlight=False)


@app.command("cancel")
@handled
def cancel(job_id: str, as_json: JsonOpt = False) -> None:
    """Cancel a job; its processes get SIGTERM, then SIGKILL after a grace period."""
    job = connect().jobs.cancel(job_id)
    if as_json:
        print_json(job)
        return
    console.print(f"{job.id}: {job.state}")


@app.command("explain")
@handled
def explain(job_id: str, as_json: JsonOpt = False) -> None:
    """Why the job runs where it runs, or why it still waits."""
    result = connect().jobs.explain(job_id)
    if as_json:
        print_json(result)
        return
    console.print(
        f"[bold]{job_id}[/]: {result.state}" + (f" — {result.reason}" if result.reason else "")
    )
    if not result.decisions:
        console.print("no scheduling decision recorded yet")
        return
    last = result.decisions[-1].data.get("explanation", {})
    chosen = last.get("chosen")
    if chosen:
        cost = chosen["cost"]
        console.print(
            f"chosen: {chosen['pool']}"
            + (" (emulated)" if chosen.get("emulated") else "")
            + f" ({chosen['site_kind']}, {chosen['jurisdiction']}, {chosen['pricing']},"
            + f" {chosen['accelerator'] or 'cpu'}) ${cost['usd_per_hour']:.2f}/h,"
            + f" est. ${cost['total_usd']:.2f}"
            + f" (compute ${cost['compute_usd']:.2f} + egress ${cost['egress_usd']:.2f})",
            highlight=False,
            markup=False,
        )
        if last.get("why"):
            console.print(f"why: {last['why']}", highlight=False, markup=False)
    rejected = last.get("rejected", [])
    if rejected:
        table(
            f"rejected ({last.get('rejected_total', len(rejected))} in all, first shown)",
            ["pool", "accelerator", "reason", "est. $", "detail"],
            [
                [
                    r["pool"],
                    r.get("accelerator") or "-",
                    r["reason"],
                    f"{r['total_usd']:.2f}" if r.get("total_usd") is not None else "-",
                    r["detail"],
                ]
                for r in rejected
            ],
        )
