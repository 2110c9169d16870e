"""What a drift check returns: a verdict per column and the dataset's."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DriftMode(StrEnum):
    CALIBRATED = "calibrated"
    COMPATIBLE = "compatible"


@dataclass(frozen=True)
class DriftOptions:
    """How a check decides. The defaults were fixed before any benchmark ran (decision 0075).

    ``fdr`` is the Benjamini-Hochberg false-discovery rate of calibrated mode;
    ``min_effect`` an optional practical minimum on the column's effect size (normed
    Wasserstein for numbers, Jensen-Shannon distance for categories); ``drift_share`` the
    share of drifted columns at which the dataset counts as drifted (both modes).
    """

    mode: DriftMode = DriftMode.CALIBRATED
    fdr: float = 0.05
    min_effect: float | None = None
    drift_share: float = 0.5


@dataclass(frozen=True)
class ColumnVerdict:
    name: str
    type: str
    test: str
    score: float
    p_value: float | None
    threshold: float
    drifted: bool
    # The effect size a user ranks by, and what it is (``wasserstein_normed``, ``js``).
    effect: float
    effect_name: str
    # Calibrated mode: the Benjamini-Hochberg adjusted p-value compared with ``threshold``.
    q_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "test": self.test,
            "score": _finite(self.score),
            "p_value": _finite(self.p_value),
            "q_value": _finite(self.q_value),
            "threshold": self.threshold,
            "type": self.type,
            "effect": _finite(self.effect),
            "effect_name": self.effect_name,
        }


@dataclass(frozen=True)
class DriftReport:
    mode: DriftMode
    columns: tuple[ColumnVerdict, ...]
    dataset_drift: bool
    share_drifted: float
    rows_reference: int
    rows_current: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "columns": {c.name: c.to_dict() for c in self.columns},
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
        }


def _finite(value: float | None) -> float | None:
    """JSON has no infinity or NaN: an infinite statistic is reported as null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)
