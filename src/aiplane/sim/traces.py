"""Trace readers: the Philly per-job CSV and any CSV with named columns.

A reader turns rows into :class:`~aiplane.sim.jobs.TraceJob` values; :func:`load_trace` then
applies the options in a fixed order (minimum duration, time window, sample, load factor) and
rebases submit times so the first kept job arrives at 0. Every bad value is reported with its
file, line and column, all at once.

Generic columns are found by common names (``submit_time``, ``timestamp``, ``duration``,
``num_gpus``, ``gpu_type``, ``team``/``queue``, ...) unless ``mapping`` names them: a mapping
``{"submit": "start_ts", "gpus": "plan_gpu"}`` reads those columns instead. Times are seconds
(an offset or epoch) or ISO dates, read as UTC when they carry no zone.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from aiplane.core.errors import Problem, SpecError
from aiplane.core.workloads import PRIORITY_CLASSES
from aiplane.sim.jobs import TraceJob

FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("job_id", "id", "jobid", "job", "name"),
    "submit": ("submit_time", "submitted_at", "submit", "timestamp", "arrival_time", "time"),
    "duration": ("duration", "duration_s", "run_time", "runtime", "elapsed"),
    "gpus": ("num_gpus", "gpus", "gpu_num", "num_gpu", "gpu"),
    "gpu_type": ("gpu_type", "gpu_model", "accelerator"),
    "gpu_fraction": ("gpu_fraction", "gpu_share", "fraction"),
    "team": ("team", "queue", "vc", "cluster", "tenant", "user"),
    "priority": ("priority", "priority_class"),
    "status": ("status", "state", "final_status"),
}
REQUIRED = ("submit", "duration")
PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class TraceOptions:
    """Which jobs of a trace to replay, and how fast they arrive."""

    # Seconds from the first submit, or absolute epoch seconds when ``window_absolute``.
    window: tuple[float | None, float | None] = (None, None)
    window_absolute: bool = False
    sample: int | None = None
    load_factor: float = 1.0
    min_duration_s: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Trace:
    jobs: tuple[TraceJob, ...]
    source: str
    format: str
    origin: float
    counts: Mapping[str, int] = field(default_factory=dict)


def parse_time(text: str) -> float:
    """Seconds: a plain number, or an ISO date or date-time (UTC when no zone is given)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text)  # a trailing Z too, since Python 3.11
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def parse_span(text: str) -> float:
    """A length of time: seconds, or a number with s, m, h, d or w."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def parse_window(text: str) -> tuple[tuple[float | None, float | None], bool]:
    """``START:END`` as spans from the trace's start (``0:7d``, ``12h:``), or as ISO dates
    (``2017-10-01:2017-11-01``; use ``START..END`` when the times carry colons).
    Returns the bounds and whether they are absolute (epoch seconds). An empty or reversed
    window is refused: it would replay no job and report a table of zeros."""
    bounds, absolute = _window_bounds(text)
    lo, hi = bounds
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError("the window is empty or reversed: START must be before END")
    return bounds, absolute


def _window_bounds(text: str) -> tuple[tuple[float | None, float | None], bool]:
    if ".." in text:
        start, end = text.split("..", 1)
        return (parse_time(start) if start else None, parse_time(end) if end else None), True
    if text.count(":") != 1:
        raise ValueError("use START:END (spans such as 0:7d, or dates) or START..END")
    start, end = text.split(":")
    try:
        return (parse_span(start) if start else None, parse_span(end) if end else None), False
    except ValueError:
        return (parse_time(start) if start else None, parse_time(end) if end else None), True


def parse_mapping(text: str) -> dict[str, str]:
    """``submit=start_ts,gpus=plan_gpu`` to a mapping, checking the field names."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, column = part.partition("=")
        if not sep or not column or name.strip() not in FIELDS:
            raise SpecError(
                "bad --map entry",
                [Problem("--map", "expected FIELD=COLUMN", part, ", ".join(FIELDS))],
            )
        mapping[name.strip()] = column.strip()
    return mapping


class _Rows:
    """Reads one CSV, resolving columns and collecting problems with their location."""

    def __init__(self, path: Path, mapping: Mapping[str, str]) -> None:
        self.path = path
        self.mapping = mapping
        self.problems: list[Problem] = []

    def columns(self, header: list[str]) -> dict[str, int]:
        lower = {h.strip().lower(): i for i, h in enumerate(header)}
        found: dict[str, int] = {}
        for name, candidates in FIELDS.items():
            wanted = self.mapping.get(name)
            if wanted is not None:
                if wanted.lower() not in lower:
                    self.problems.append(
                        Problem(
                            f"{self.path}: header",
                            f"no column {wanted!r} for {name}",
                            None,
                            ", ".join(header),
                        )
                    )
                    continue
                found[name] = lower[wanted.lower()]
                continue
            for candidate in candidates:
                if candidate in lower:
                    found[name] = lower[candidate]
                    break
        for name in REQUIRED:
            if name not in found and name not in self.mapping:
                self.problems.append(
                    Problem(
                        f"{self.path}: header",
                        f"no column for {name}",
                        ", ".join(header),
                        f"one of {', '.join(FIELDS[name])}, or --map",
                    )
                )
        return found

    def read(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                self.problems.append(Problem(str(self.path), "the file is empty"))
                return
            columns = self.columns(header)
            if self.problems:
                return
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                yield line, {name: row[i].strip() for name, i in columns.items() if i < len(row)}

    def fail(self, line: int, name: str, message: str, given: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(f"{self.path}:{line}: {name}", message, given))


def _priority(text: str) -> int:
    named = PRIORITY_CLASSES.get(text.lower())
    return named if named is not None else int(float(text))


def read_csv(path: str | Path, mapping: Mapping[str, str] | None = None) -> list[TraceJob]:
    """Jobs of a generic CSV with named columns; submit times as read (offsets or epoch)."""
    rows = _Rows(Path(path), mapping or {})
    jobs: list[TraceJob] = []
    for line, row in rows.read():
        try:
            submit = parse_time(row.get("submit", ""))
        except ValueError:
            rows.fail(
                line, "submit", "not a number of seconds or an ISO date", row.get("submit", "")
            )
            continue
        try:
            duration = float(row.get("duration", ""))
            gpus = float(row["gpus"]) if row.get("gpus") else 1.0
            if row.get("gpu_fraction"):
                gpus = (gpus or 1.0) * float(row["gpu_fraction"])
            priority = _priority(row["priority"]) if row.get("priority") else 500
        except ValueError as exc:
            rows.fail(line, "row", f"not a number: {exc}", ",".join(row.values()))
            continue
        if duration < 0 or gpus < 0:
            rows.fail(line, "duration/gpus", "must not be negative", f"{duration:g}/{gpus:g}")
            continue
        jobs.append(
            TraceJob(
                id=row.get("id") or f"job-{line - 1:06d}",
                submit_s=submit,
                duration_s=duration,
                gpus=gpus,
                team=row.get("team") or "default",
                gpu_type=row.get("gpu_type") or None,
                priority=priority,
                status=row.get("status") or None,
            )
        )
    if rows.problems:
        raise SpecError(f"cannot read trace {path}", rows.problems)
    return jobs


def read_philly(path: str | Path) -> list[TraceJob]:
    """The Philly per-job CSV (``timestamp,duration,num_gpus,gpu_time,cluster``); the hashed
    virtual cluster becomes the team."""
    with Path(path).open(encoding="utf-8-sig") as handle:
        header = handle.readline().strip().lower().split(",")
    missing = [c for c in PHILLY_COLUMNS[:3] if c not in header]
    if missing:
        raise SpecError(
            f"not a Philly trace: {path}",
            [
                Problem(
                    f"{path}: header",
                    "missing columns",
                    ", ".join(missing),
                    ", ".join(PHILLY_COLUMNS),
                )
            ],
        )
    mapping = {"submit": "timestamp", "duration": "duration", "gpus": "num_gpus"}
    if "cluster" in header:
        mapping["team"] = "cluster"
    jobs = read_csv(path, mapping)
    return [replace(j, id=f"philly-{i:06d}") for i, j in enumerate(jobs)]


def detect_format(path: str | Path) -> str:
    with Path(path).open(encoding="utf-8-sig") as handle:
        header = handle.readline().strip().lower().split(",")
    return "philly" if header[: len(PHILLY_COLUMNS)] == list(PHILLY_COLUMNS) else "csv"


def load_trace(
    path: str | Path,
    options: TraceOptions | None = None,
    mapping: Mapping[str, str] | None = None,
    trace_format: str = "auto",
) -> Trace:
    """Read a trace and apply ``options``; submit times come back rebased to 0."""
    options = options or TraceOptions()
    if not Path(path).is_file():
        what = "is a folder, not a trace file" if Path(path).is_dir() else "no such file"
        raise SpecError(
            "cannot read the trace", [Problem("--trace", what, str(path), "a CSV trace file")]
        )
    if options.load_factor <= 0:
        raise SpecError(
            "bad load factor", [Problem("--load-factor", "must be > 0", f"{options.load_factor:g}")]
        )
    fmt = detect_format(path) if trace_format == "auto" and not mapping else trace_format
    fmt = "csv" if fmt == "auto" else fmt
    raw = read_philly(path) if fmt == "philly" else read_csv(path, mapping)
    counts = {"read": len(raw)}
    jobs = [j for j in raw if j.duration_s >= options.min_duration_s]
    counts["shorter_than_min_duration"] = len(raw) - len(jobs)
    origin = min((j.submit_s for j in raw), default=0.0)
    start, end = options.window
    if start is not None or end is not None:
        base = 0.0 if options.window_absolute else origin
        lo = base + start if start is not None else float("-inf")
        hi = base + end if end is not None else float("inf")
        before = len(jobs)
        jobs = [j for j in jobs if lo <= j.submit_s < hi]
        counts["outside_window"] = before - len(jobs)
    jobs.sort(key=lambda j: (j.submit_s, j.id))
    if options.sample is not None and options.sample < len(jobs):
        keep = sorted(random.Random(options.seed).sample(range(len(jobs)), options.sample))
        counts["sampled_out"] = len(jobs) - len(keep)
        jobs = [jobs[i] for i in keep]
    first = jobs[0].submit_s if jobs else 0.0
    factor = options.load_factor
    # A load factor F compresses inter-arrival times by F: the same work arrives F times
    # faster, so the offered load on the same fleet is F times higher.
    rebased = tuple(replace(j, submit_s=(j.submit_s - first) / factor) for j in jobs)
    counts["kept"] = len(rebased)
    return Trace(rebased, str(path), fmt, first, counts)
