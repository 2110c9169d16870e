"""A drift check: the current window's columns against a reference profile."""

from __future__ import annotations

from collections.abc import Mapping

from aiplane.core.drift import modes
from aiplane.core.drift.columns import CategoricalColumn, Column, NumericColumn
from aiplane.core.drift.compare import compare_categorical, compare_numeric
from aiplane.core.drift.profiles import CategoricalProfile, NumericProfile, ReferenceProfile
from aiplane.core.drift.report import ColumnVerdict, DriftMode, DriftOptions, DriftReport


class ColumnMismatchError(ValueError):
    """A current column is missing from the profile or of another type than its reference."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column


def compare(profile: ReferenceProfile, name: str, column: Column) -> modes.Comparison:
    reference = profile.columns.get(name)
    if reference is None:
        raise ColumnMismatchError(name, "not in the reference profile")
    if isinstance(reference, NumericProfile) and isinstance(column, NumericColumn):
        return compare_numeric(reference, column)
    if isinstance(reference, CategoricalProfile) and isinstance(column, CategoricalColumn):
        return compare_categorical(reference, column)
    raise ColumnMismatchError(
        name, f"{column.type} in the current window, {reference.type} in the reference"
    )


def check(
    profile: ReferenceProfile,
    current: Mapping[str, Column],
    options: DriftOptions | None = None,
    rows_current: int | None = None,
) -> DriftReport:
    """Verdicts for every column of ``current`` (in its order) and for the dataset."""
    options = options or DriftOptions()
    comparisons = {name: compare(profile, name, column) for name, column in current.items()}
    return decide(profile, comparisons, options, rows_current)


def decide(
    profile: ReferenceProfile,
    comparisons: Mapping[str, modes.Comparison],
    options: DriftOptions,
    rows_current: int | None = None,
) -> DriftReport:
    verdicts: list[ColumnVerdict]
    if options.mode is DriftMode.COMPATIBLE:
        verdicts = [modes.compatible(n, c, profile.rows) for n, c in comparisons.items()]
    else:
        verdicts = modes.calibrated(
            [modes.calibrated_test(n, c) for n, c in comparisons.items()], options
        )
    drifted = sum(v.drifted for v in verdicts)
    share = drifted / len(verdicts) if verdicts else 0.0
    if rows_current is None:
        rows_current = max((c.n_current for c in comparisons.values()), default=0)
    return DriftReport(
        mode=options.mode,
        columns=tuple(verdicts),
        dataset_drift=bool(verdicts) and share >= options.drift_share,
        share_drifted=share,
        rows_reference=profile.rows,
        rows_current=rows_current,
    )
