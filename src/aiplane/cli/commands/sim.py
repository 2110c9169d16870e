"""`aiplane simulate` and `aiplane plan`: trace replays, computed here with no server."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aiplane.cli.arguments import finite
from aiplane.cli.errors import handled
from aiplane.cli.output import console, err_console, print_json, table
from aiplane.core.errors import Problem, SpecError

# The simulator runs here, but only when asked: other commands must not pay for importing it.
if TYPE_CHECKING:
    from aiplane.core.fleet import Fleet
    from aiplane.sim.driver import SimOptions
    from aiplane.sim.jobs import ShapeOptions, TraceJob
    from aiplane.sim.policies import PolicyChoice
    from aiplane.sim.runner import Comparison
    from aiplane.sim.runner import Progress as ProgressFn
    from aiplane.sim.traces import Trace

TraceOpt = Annotated[Path, typer.Option("--trace", help="trace CSV (Philly or named columns)")]
FleetOpt = Annotated[Path, typer.Option("--fleet", help="fleet.yaml to replay on")]
MapOpt = Annotated[
    str | None, typer.Option("--map", help="column names: FIELD=COLUMN,... (submit, duration, "
                             "gpus, gpu_type, gpu_fraction, team, priority, status, id)")
]  # fmt: skip
WindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window",
        help="START:END from the trace's start (0:7d, 12h:) or dates (2017-10-01:2017-11-01)",
    ),
]
SampleOpt = Annotated[
    int | None, typer.Option("--sample", min=1, help="replay N jobs drawn with --seed")
]
LoadOpt = Annotated[
    float, typer.Option("--load-factor", callback=finite, help="arrive F times faster")
]
MinDurOpt = Annotated[
    float, typer.Option("--min-duration", min=0.0, callback=finite,
                        help="drop jobs shorter (seconds)")
]  # fmt: skip
SeedOpt = Annotated[int, typer.Option("--seed", help="seed for sampling and spot interruptions")]
SpeedOpt = Annotated[
    list[str] | None, typer.Option("--speed", help="relative speed of an accelerator, NAME=F")
]
CkptOpt = Annotated[
    float,
    typer.Option(
        "--checkpoint-minutes",
        min=0.0,
        callback=finite,
        help="checkpoint interval of every job (0: none)",
    ),
]
CycleOpt = Annotated[
    float, typer.Option("--cycle-interval", min=0.0, callback=finite, help="at most one "
                        "scheduling cycle per S virtual seconds (0: one per event time)")
]  # fmt: skip
SettingOpt = Annotated[
    list[str] | None,
    typer.Option("--setting", help="an engine setting, KEY=VALUE (e.g. starvation_age_s=86400)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object for scripts")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="write index.html, PNGs and JSON here")]


def _speeds(values: list[str] | None) -> dict[str, float]:
    from aiplane.core.accelerators import canonical_name

    out: dict[str, float] = {}
    for value in values or []:
        name, _, number = value.partition("=")
        try:
            speed = float(number)
        except ValueError:
            speed = math.nan
        if not name.strip() or not math.isfinite(speed) or speed <= 0:
            raise SpecError(
                "bad --speed", [Problem("--speed", "expected NAME=F", value, "F a number > 0")]
            )
        out[canonical_name(name) or name.strip()] = speed
    return out


def _trace(
    path: Path, mapping: str | None, window: str | None, sample: int | None, load: float,
    min_duration: float, seed: int,
) -> Trace:  # fmt: skip
    from aiplane.sim.traces import TraceOptions, load_trace, parse_mapping, parse_window

    bounds: tuple[float | None, float | None] = (None, None)
    absolute = False
    if window is not None and not window.strip():
        # An empty --window is a mistake (an unset variable in a script), not "all of it".
        raise SpecError(
            "bad --window", [Problem("--window", "is empty", repr(window), "START:END")]
        )
    if window:
        try:
            bounds, absolute = parse_window(window)
        except ValueError as exc:
            raise SpecError("bad --window", [Problem("--window", str(exc), window)]) from None
    options = TraceOptions(bounds, absolute, sample, load, min_duration, seed)
    loaded = load_trace(path, options, parse_mapping(mapping) if mapping else None)
    if not loaded.jobs:
        # A replay of nothing prints a table of zeros and exits 0, which reads as a result.
        counts = ", ".join(f"{k}: {v}" for k, v in loaded.counts.items())
        if window and loaded.counts.get("outside_window", 0):
            problem = Problem("--window", f"no job submitted in the window ({counts})", window)
        else:
            problem = Problem("--trace", f"no job left to replay ({counts})", str(path))
        raise SpecError("nothing to replay", [problem])
    return loaded


def _fleet(path: Path) -> Fleet:
    from aiplane.specs import load_fleet

    return load_fleet(path).fleet


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err_console, transient=True) as bar:
        yield bar


def _reporter(bar: Any, total: int) -> Any:
    def make(choice: PolicyChoice) -> ProgressFn | None:
        if bar is None:
            return None
        task = bar.add_task(f"{choice.label:>10}", total=total)

        def update(done: int, _: int) -> None:
            bar.update(task, completed=done)

        return update

    return make


def run_comparison(
    fleet: Fleet, jobs: tuple[TraceJob, ...], policies: list[PolicyChoice], shape: ShapeOptions,
    options: SimOptions, show_progress: bool,
) -> Comparison:  # fmt: skip
    from aiplane.gctuning import paused_collector
    from aiplane.sim.runner import compare

    with _progress(show_progress) as bar, paused_collector():
        return compare(fleet, jobs, policies, shape, options, _reporter(bar, len(jobs)))


@handled
def simulate(
    trace: TraceOpt,
    fleet: FleetOpt,
    policy: Annotated[
        str, typer.Option("--policy", help="fifo, sjf, las, aiplane (comma list)")
    ] = ("fifo,sjf,las,aiplane"),
    mapping: MapOpt = None,
    window: WindowOpt = None,
    sample: SampleOpt = None,
    load_factor: LoadOpt = 1.0,
    min_duration: MinDurOpt = 0.0,
    seed: SeedOpt = 0,
    speed: SpeedOpt = None,
    checkpoint_minutes: CkptOpt = 30.0,
    cycle_interval: CycleOpt = 0.0,
    setting: SettingOpt = None,
    json_out: JsonOpt = False,
    out: OutOpt = None,
) -> None:
    """Replay a trace through scheduling policies on a fleet and compare them."""
    from aiplane.sim import report
    from aiplane.sim.driver import SimOptions
    from aiplane.sim.jobs import ShapeOptions
    from aiplane.sim.policies import parse, parse_settings

    choices = parse(policy)
    if out is not None:
        report.prepare_out(out)  # before the replay, not after it
    the_fleet = _fleet(fleet)
    loaded = _trace(trace, mapping, window, sample, load_factor, min_duration, seed)
    shape = ShapeOptions(_speeds(speed), checkpoint_minutes or None)
    options = SimOptions(seed=seed, min_cycle_interval_s=cycle_interval,
                         settings=parse_settings(setting))  # fmt: skip
    comparison = run_comparison(
        the_fleet, loaded.jobs, choices, shape, options, show_progress=not json_out
    )
    meta = {
        "trace": str(trace), "format": loaded.format, "fleet": str(fleet), "seed": seed,
        "load_factor": load_factor, "jobs_read": loaded.counts.get("read"),
        "jobs_replayed": len(loaded.jobs) - len(comparison.dropped),
        "jobs_dropped_unschedulable": len(comparison.dropped),
        "min_duration_s": min_duration, "checkpoint_minutes": checkpoint_minutes,
        "cycle_interval_s": cycle_interval, "window": window or "all", "sample": sample or "all",
        "engine_settings": ", ".join(setting or []) or "defaults",
    }  # fmt: skip
    if out is not None:
        page = report.write_html(comparison, out, meta)
        err_console.print(f"report written to {page}")
    if json_out:
        print_json(report.to_cli_json(comparison))
    else:
        report.print_table(comparison, console, title=f"{trace.name} on {fleet.name}")
        if comparison.dropped:
            err_console.print(f"{len(comparison.dropped)} job(s) no pool can ever run were left "
                              "out (see report.json)")  # fmt: skip
    bad = [n for n, r in comparison.results.items()
           if r.summary.violations or r.summary.partial_gangs]  # fmt: skip
    if bad:
        err_console.print(f"[bold red]error:[/] constraint violations or partial gangs: {bad}")
        raise typer.Exit(1)


@handled
def plan(
    trace: TraceOpt,
    fleet: FleetOpt,
    candidate: Annotated[
        list[str],
        typer.Option(
            "--candidate",
            help="a fleet change: add-owned:ACCEL:GPN:nodes=N, "
            "reserve:ACCEL:gpus=N,term_months=12, spot-burst:ACCEL:gpus=N, "
            "on-demand-burst:ACCEL:gpus=N; join changes with +",
        ),
    ],
    policy: Annotated[str, typer.Option("--policy", help="the policy to plan with")] = "aiplane",
    value_of_time: Annotated[
        float | None,
        typer.Option(
            "--value-of-time",
            min=0.0,
            callback=finite,
            help="USD one job-hour of completion time "
            "is worth (default: a job's GPUs at the fleet's mean rate)",
        ),
    ] = None,
    mapping: MapOpt = None,
    window: WindowOpt = None,
    sample: SampleOpt = None,
    load_factor: LoadOpt = 1.0,
    min_duration: MinDurOpt = 0.0,
    seed: SeedOpt = 0,
    speed: SpeedOpt = None,
    checkpoint_minutes: CkptOpt = 30.0,
    cycle_interval: CycleOpt = 0.0,
    setting: SettingOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Simulate candidate fleet changes; print the cost vs completion-time frontier."""
    from aiplane.gctuning import paused_collector
    from aiplane.sim.driver import SimOptions
    from aiplane.sim.jobs import ShapeOptions
    from aiplane.sim.planner import run_plan
    from aiplane.sim.policies import parse, parse_settings

    choices = parse(policy)[:1]
    loaded = _trace(trace, mapping, window, sample, load_factor, min_duration, seed)
    shape = ShapeOptions(_speeds(speed), checkpoint_minutes or None)
    options = SimOptions(seed=seed, min_cycle_interval_s=cycle_interval,
                         settings=parse_settings(setting))  # fmt: skip
    with _progress(not json_out) as bar, paused_collector():
        result = run_plan(fleet, loaded.jobs, candidate, choices[0], shape, options,
                          value_of_time, _reporter(bar, len(loaded.jobs)))  # fmt: skip
    if json_out:
        print_json(result.as_dict())
        return
    table(
        f"plan: {trace.name} on {fleet.name} with {choices[0].label}",
        ["candidate", "capacity $", "usage $", "avg JCT", "p99 JCT", "avg queue", "GPU util",
         "frontier"],
        result.rows(),
    )  # fmt: skip
    best = result.best
    console.print(f"[bold]recommendation:[/] {best.candidate.name if best else 'none'}")
    for reason in result.reasons:
        console.print(f"  - {reason}", highlight=False)
