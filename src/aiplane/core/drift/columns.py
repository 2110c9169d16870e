"""Columns as the drift engine takes them: numbers as float64 arrays, categories as codes.

Readers (the tabular adapter) hand these over; the engine never sees a file or a data frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

ColumnType = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column: NaN marks a missing value (it takes no part in the tests)."""

    values: npt.NDArray[np.float64]

    @property
    def type(self) -> ColumnType:
        return "numeric"


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical column as dictionary codes into ``categories``; -1 marks a missing value."""

    codes: npt.NDArray[np.int64]
    categories: tuple[str, ...]

    @property
    def type(self) -> ColumnType:
        return "categorical"

    def counts(self) -> npt.NDArray[np.int64]:
        """How often each category occurs (missing values left out)."""
        present = self.codes[self.codes >= 0]
        return np.bincount(present, minlength=len(self.categories)).astype(np.int64)


Column = NumericColumn | CategoricalColumn
