"""`aiplane drift check|profile`: a current window against a reference, here, from files.

The reference is a Parquet or CSV file (profiled on the spot) or a profile saved earlier
(``.json``: then its rows are never read again). Columns are compared in threads: numpy
sorts and searches without the GIL, and sorting the current sample is most of a check.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiplane.core.drift import (
    Column,
    ColumnMismatchError,
    DriftOptions,
    DriftReport,
    ReferenceProfile,
    compare,
    decide,
    profile_column,
)
from aiplane.core.drift.columns import ColumnType
from aiplane.core.drift.profiles import ColumnProfile
from aiplane.core.errors import Problem, SpecError
from aiplane.tabular.base import ColumnReader

PROFILE_SUFFIX = ".json"
# Columns of the current window read and compared at once: 1e6 rows x 16 float64 columns is
# 128 MB, and batches are large enough for pyarrow's threads and the thread pool.
BATCH_COLUMNS = 16


@dataclass(frozen=True)
class Timings:
    read_s: float
    profile_s: float
    check_s: float

    def to_dict(self) -> dict[str, float]:
        return {
            "read_s": round(self.read_s, 4),
            "profile_s": round(self.profile_s, 4),
            "check_s": round(self.check_s, 4),
        }


@dataclass(frozen=True)
class DriftCheck:
    report: DriftReport
    timings: Timings

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "timings": self.timings.to_dict()}


def _workers() -> int:
    return max(1, min(16, os.cpu_count() or 1))


class DriftService:
    def __init__(
        self, reader: ColumnReader, workers: int | None = None, batch: int = BATCH_COLUMNS
    ) -> None:
        self._reader = reader
        self._workers = workers or _workers()
        self._batch = max(1, batch)

    def profile(
        self, reference: Path, columns: Sequence[str] | None = None
    ) -> tuple[ReferenceProfile, Timings]:
        """The reference's profile (a saved one is loaded) and the time read and profiling took."""
        if reference.suffix.lower() == PROFILE_SUFFIX:
            started = time.perf_counter()
            profile = load_profile(reference)
            if columns is not None:
                unknown = [c for c in columns if c not in profile.columns]
                if unknown:
                    raise _unknown(reference, unknown, list(profile.columns))
                profile = ReferenceProfile(profile.rows, {c: profile.columns[c] for c in columns})
            return profile, Timings(time.perf_counter() - started, 0.0, 0.0)
        started = time.perf_counter()
        names = self._names(reference, columns)
        read = time.perf_counter() - started
        profiled = 0.0
        rows = 0
        columns_out: dict[str, ColumnProfile] = {}
        with ThreadPoolExecutor(self._workers) as pool:
            for start in range(0, len(names), self._batch):
                started = time.perf_counter()
                rows, data = self._reader.read(reference, names[start : start + self._batch])
                read += time.perf_counter() - started
                started = time.perf_counter()
                columns_out.update(zip(data, pool.map(profile_column, data.values()), strict=True))
                del data
                profiled += time.perf_counter() - started
        return ReferenceProfile(rows, columns_out), Timings(read, profiled, 0.0)

    def save_profile(
        self, reference: Path, out: Path, columns: Sequence[str] | None = None
    ) -> tuple[ReferenceProfile, Timings]:
        profile, timings = self.profile(reference, columns)
        out.write_text(json.dumps(profile.to_dict()))
        return profile, timings

    def check(
        self,
        reference: Path,
        current: Path,
        options: DriftOptions | None = None,
        columns: Sequence[str] | None = None,
    ) -> DriftCheck:
        options = options or DriftOptions()
        profile, reference_timings = self.profile(reference, columns)
        names = list(profile.columns)
        self._same_types(reference, profile, current)
        read = check = 0.0
        rows = 0
        comparisons: dict[str, Any] = {}

        def one(item: tuple[str, Column]) -> Any:
            return compare(profile, item[0], item[1])

        # A batch of columns at a time: only its arrays are in memory, not the whole window.
        with ThreadPoolExecutor(self._workers) as pool:
            for start in range(0, len(names), self._batch):
                started = time.perf_counter()
                rows, data = self._reader.read(current, names[start : start + self._batch])
                read += time.perf_counter() - started
                started = time.perf_counter()
                try:
                    comparisons.update(zip(data, pool.map(one, data.items()), strict=True))
                except ColumnMismatchError as exc:
                    raise SpecError(
                        f"cannot compare {current} with {reference}",
                        [Problem(f"{current}:{exc.column}", str(exc))],
                    ) from None
                del data
                check += time.perf_counter() - started
        started = time.perf_counter()
        report = decide(profile, comparisons, options, rows_current=rows)
        timings = Timings(
            read_s=reference_timings.read_s + read,
            profile_s=reference_timings.profile_s,
            check_s=check + time.perf_counter() - started,
        )
        return DriftCheck(report, timings)

    def _names(self, path: Path, columns: Sequence[str] | None) -> list[str]:
        kinds = self._reader.schema(path)
        if columns is None:
            return [name for name, kind in kinds.items() if kind is not None]
        unknown = [c for c in columns if c not in kinds]
        if unknown:
            raise _unknown(path, unknown, list(kinds))
        untestable = [c for c in columns if kinds[c] is None]
        if untestable:
            raise SpecError(
                f"cannot test columns of {path}",
                [
                    Problem(
                        f"{path}:{c}",
                        "neither numeric nor categorical (a string, boolean or number)",
                    )
                    for c in untestable
                ],
            )
        return list(columns)

    def _same_types(self, reference: Path, profile: ReferenceProfile, current: Path) -> None:
        kinds: dict[str, ColumnType | None] = self._reader.schema(current)
        problems = []
        for name, column in profile.columns.items():
            if name not in kinds:
                problems.append(
                    Problem(f"{current}:{name}", f"no column {name!r} (it is in {reference})")
                )
            elif kinds[name] != column.type:
                problems.append(
                    Problem(
                        f"{current}:{name}",
                        f"{kinds[name] or 'untestable'} here, {column.type} in {reference}",
                    )
                )
        if problems:
            raise SpecError(f"cannot compare {current} with {reference}", problems)


def load_profile(path: Path) -> ReferenceProfile:
    if not path.exists():
        raise SpecError(f"cannot read {path}", [Problem(str(path), "no such file")])
    try:
        return ReferenceProfile.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(
            f"cannot read {path}", [Problem(str(path), f"not a drift profile: {exc}")]
        ) from None


def _unknown(path: Path, unknown: list[str], known: list[str]) -> SpecError:
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return SpecError(
        f"unknown column in {path}",
        [Problem(f"{path}:{c}", f"no column {c!r}", allowed=shown) for c in unknown],
    )
