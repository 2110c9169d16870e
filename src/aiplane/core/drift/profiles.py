"""A reference profile: what a drift check needs of the reference, computed once and stored.

A numeric column keeps its count, mean and standard deviation and its empirical CDF at a set
of edges: every distinct value when there are at most ``max_edges`` of them (then the KS
statistic computed from the profile equals the one from the rows), else the reference's
quantiles at ``max_edges`` equal steps (then it is a lower bound within 1/max_edges of the
exact one, so a p-value from it errs on the conservative side). Both the CDF at each edge
and its left limit are kept, exactly counted, so ties (counts, rounded values) are right.
A categorical column keeps its category counts. ``to_dict`` is JSON-ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aiplane.core.drift.columns import CategoricalColumn, Column, NumericColumn

# Edges per numeric column: 4,097 quantiles bound the binned KS statistic's shortfall by
# 1/4096 (0.00024), under a tenth of the smallest shift the statistic must see at 1e6 rows.
MAX_EDGES = 4096
PROFILE_VERSION = 1

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NumericProfile:
    n: int
    missing: int
    mean: float
    std: float
    n_unique: int
    exact: bool
    edges: FloatArray
    cdf: FloatArray
    cdf_left: FloatArray

    type = "numeric"


@dataclass(frozen=True)
class CategoricalProfile:
    n: int
    missing: int
    categories: tuple[str, ...]
    counts: npt.NDArray[np.int64]

    type = "categorical"


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    columns: dict[str, ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PROFILE_VERSION,
            "rows": self.rows,
            "columns": {name: _column_dict(p) for name, p in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        if data.get("version") != PROFILE_VERSION:
            raise ValueError(f"profile version {data.get('version')!r}, expected {PROFILE_VERSION}")
        columns = {name: _column_from(d) for name, d in data["columns"].items()}
        return cls(rows=int(data["rows"]), columns=columns)


def numeric_profile(values: FloatArray, max_edges: int = MAX_EDGES) -> NumericProfile:
    present = values[~np.isnan(values)]
    ordered = np.sort(present)
    n = int(ordered.size)
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return NumericProfile(
            0, int(values.size), float("nan"), float("nan"), 0, True, empty, empty, empty
        )
    # Distinct values of a sorted array: where it steps.
    steps = np.flatnonzero(np.diff(ordered)) + 1
    n_unique = int(steps.size + 1)
    if n_unique <= max_edges + 1:
        edges = ordered[np.concatenate(([0], steps))]
        exact = True
    else:
        positions = np.round(np.linspace(0, n - 1, max_edges + 1)).astype(np.int64)
        edges = np.unique(ordered[positions])
        exact = False
    cdf = np.searchsorted(ordered, edges, side="right") / n
    cdf_left = np.searchsorted(ordered, edges, side="left") / n
    return NumericProfile(
        n=n,
        missing=int(values.size - n),
        mean=float(ordered.mean()),
        std=float(ordered.std()),
        n_unique=n_unique,
        exact=exact,
        edges=edges.astype(np.float64),
        cdf=cdf.astype(np.float64),
        cdf_left=cdf_left.astype(np.float64),
    )


def categorical_profile(column: CategoricalColumn) -> CategoricalProfile:
    counts = column.counts()
    return CategoricalProfile(
        n=int(counts.sum()),
        missing=int(column.codes.size - counts.sum()),
        categories=column.categories,
        counts=counts,
    )


def profile_column(column: Column, max_edges: int = MAX_EDGES) -> ColumnProfile:
    if isinstance(column, NumericColumn):
        return numeric_profile(column.values, max_edges)
    return categorical_profile(column)


def build_profile(columns: dict[str, Column], max_edges: int = MAX_EDGES) -> ReferenceProfile:
    """The profile of a reference given as columns (all of one length)."""
    lengths = {_length(c) for c in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    return ReferenceProfile(
        rows=rows, columns={name: profile_column(c, max_edges) for name, c in columns.items()}
    )


def _length(column: Column) -> int:
    return int(column.values.size if isinstance(column, NumericColumn) else column.codes.size)


def _column_dict(p: ColumnProfile) -> dict[str, Any]:
    if isinstance(p, NumericProfile):
        return {
            "type": "numeric",
            "n": p.n,
            "missing": p.missing,
            "mean": p.mean,
            "std": p.std,
            "n_unique": p.n_unique,
            "exact": p.exact,
            "edges": p.edges.tolist(),
            "cdf": p.cdf.tolist(),
            "cdf_left": p.cdf_left.tolist(),
        }
    return {
        "type": "categorical",
        "n": p.n,
        "missing": p.missing,
        "categories": list(p.categories),
        "counts": p.counts.tolist(),
    }


def _column_from(d: dict[str, Any]) -> ColumnProfile:
    if d["type"] == "numeric":
        return NumericProfile(
            n=int(d["n"]),
            missing=int(d["missing"]),
            mean=float(d["mean"]),
            std=float(d["std"]),
            n_unique=int(d["n_unique"]),
            exact=bool(d["exact"]),
            edges=np.asarray(d["edges"], dtype=np.float64),
            cdf=np.asarray(d["cdf"], dtype=np.float64),
            cdf_left=np.asarray(d["cdf_left"], dtype=np.float64),
        )
    return CategoricalProfile(
        n=int(d["n"]),
        missing=int(d["missing"]),
        categories=tuple(str(c) for c in d["categories"]),
        counts=np.asarray(d["counts"], dtype=np.int64),
    )
