"""Drift statistics: reference profiles, tests, the two modes of a check, and change detectors
on metric series (issue 14)."""

from aiplane.core.drift.columns import CategoricalColumn, Column, ColumnType, NumericColumn
from aiplane.core.drift.detectors import Adwin, Detection, PageHinkley
from aiplane.core.drift.engine import ColumnMismatchError, check, compare, decide
from aiplane.core.drift.profiles import (
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_profile,
    profile_column,
)
from aiplane.core.drift.report import ColumnVerdict, DriftMode, DriftOptions, DriftReport

__all__ = [
    "Adwin",
    "CategoricalColumn",
    "CategoricalProfile",
    "Column",
    "ColumnMismatchError",
    "ColumnType",
    "ColumnVerdict",
    "Detection",
    "DriftMode",
    "DriftOptions",
    "DriftReport",
    "NumericColumn",
    "NumericProfile",
    "PageHinkley",
    "ReferenceProfile",
    "build_profile",
    "check",
    "compare",
    "decide",
    "profile_column",
]
