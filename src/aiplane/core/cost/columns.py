"""Usage in columns: numpy arrays, with strings dictionary-encoded.

Metering a month of a large fleet means millions of intervals; per-object Python arithmetic on
that many rows takes longer than the people asking will wait, so the engine works on columns.
Strings (team, workload, pool, ...) become integer codes into a table of distinct values, which
also makes roll-ups a ``bincount`` and lets an exporter format each distinct value once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from aiplane.core.cost.usage import UsageInterval

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

CATEGORIES = (
    "run_id",
    "job_id",
    "team",
    "workload",
    "project",
    "model",
    "endpoint",
    "site",
    "pool",
    "pricing",
    "accelerator",
    "outcome",
)
# Categories that are encoded together (see from_intervals); together they are CATEGORIES.
_GROUPS = (
    ("run_id", "job_id", "team", "workload", "project", "model", "endpoint"),
    ("site", "pool", "pricing", "accelerator"),
    ("outcome",),
)
NUMBERS = ("attempt", "gpus", "start", "end", "usd_per_hour", "egress_gb", "egress_usd")


@dataclass(frozen=True)
class Categorical:
    """``values[codes[i]]`` is row i's value; ``values`` holds each distinct value once."""

    codes: Ints
    values: tuple[str | None, ...]

    @classmethod
    def encode(cls, items: Iterable[str | None]) -> Categorical:
        index: dict[str | None, int] = {}
        setdefault = index.setdefault
        codes = [setdefault(v, len(index)) for v in items]
        return cls(np.asarray(codes, dtype=np.int64), tuple(index))

    def decoded(self) -> list[str | None]:
        table = np.empty(len(self.values), dtype=object)
        table[:] = self.values
        return list(table[self.codes])

    def take(self, rows: Ints) -> Categorical:
        return Categorical(self.codes[rows], self.values)

    def code_of(self, value: str | None) -> int:
        """The code of ``value``, or -1 when no row has it."""
        try:
            return self.values.index(value)
        except ValueError:
            return -1


@dataclass(frozen=True)
class UsageColumns:
    run_id: Categorical
    job_id: Categorical
    team: Categorical
    workload: Categorical
    project: Categorical
    model: Categorical
    endpoint: Categorical
    site: Categorical
    pool: Categorical
    pricing: Categorical
    accelerator: Categorical
    outcome: Categorical
    attempt: Ints
    gpus: Floats
    start: Floats
    end: Floats
    usd_per_hour: Floats
    egress_gb: Floats
    egress_usd: Floats

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def from_intervals(cls, intervals: Sequence[UsageInterval]) -> UsageColumns:
        cats: dict[str, Categorical] = {}
        for group in _GROUPS:
            # Fields that vary together are encoded as one tuple per row, in one pass: a run's
            # team, workload and labels are the same on all its intervals, so this pass finds
            # about as many distinct tuples as runs, and each field is split out of those.
            index: dict[tuple[str | None, ...], int] = {}
            setdefault = index.setdefault
            get = attrgetter(*group) if len(group) > 1 else _one(group[0])
            combo = np.asarray(
                [setdefault(v, len(index)) for v in map(get, intervals)], dtype=np.int64
            )
            keys = list(index)
            for j, name in enumerate(group):
                per_combo = Categorical.encode([k[j] for k in keys])
                cats[name] = Categorical(per_combo.codes[combo], per_combo.values)
        nums = {
            name: np.asarray(list(map(attrgetter(name), intervals)), dtype=np.float64)
            for name in NUMBERS
            if name != "attempt"
        }
        ints = np.asarray(list(map(attrgetter("attempt"), intervals)), dtype=np.int64)
        return cls(attempt=ints, **cats, **nums)  # type: ignore[arg-type]

    def category(self, name: str) -> Categorical:
        if name not in CATEGORIES:
            raise ValueError(f"not a usage category: {name!r} (known: {', '.join(CATEGORIES)})")
        value: Categorical = getattr(self, name)
        return value

    def take(self, rows: Ints) -> UsageColumns:
        """The rows at ``rows`` (indices), with the same category tables."""
        changes: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            changes[f.name] = value.take(rows) if isinstance(value, Categorical) else value[rows]
        return UsageColumns(**changes)  # type: ignore[arg-type]

    def intervals(self) -> list[UsageInterval]:
        """Back to objects (for small results and tests)."""
        decoded = {name: self.category(name).decoded() for name in CATEGORIES}
        return [
            UsageInterval(
                run_id=str(decoded["run_id"][i]),
                job_id=str(decoded["job_id"][i]),
                attempt=int(self.attempt[i]),
                team=str(decoded["team"][i]),
                workload=str(decoded["workload"][i]),
                site=str(decoded["site"][i]),
                pool=str(decoded["pool"][i]),
                pricing=str(decoded["pricing"][i]),
                accelerator=decoded["accelerator"][i],
                gpus=float(self.gpus[i]),
                start=float(self.start[i]),
                end=float(self.end[i]),
                usd_per_hour=float(self.usd_per_hour[i]),
                project=decoded["project"][i],
                model=decoded["model"][i],
                endpoint=decoded["endpoint"][i],
                egress_gb=float(self.egress_gb[i]),
                egress_usd=float(self.egress_usd[i]),
                outcome=str(decoded["outcome"][i]),
            )
            for i in range(len(self))
        ]


def _one(name: str) -> Callable[[UsageInterval], tuple[str | None]]:
    def get(u: UsageInterval) -> tuple[str | None]:
        return (getattr(u, name),)

    return get


def empty_usage() -> UsageColumns:
    return UsageColumns.from_intervals([])
