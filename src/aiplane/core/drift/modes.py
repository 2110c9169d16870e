"""The two ways a check decides, from the measurements of ``compare.py``.

``compatible`` is Evidently 0.7's ``DataDriftPreset`` default: the test chosen by the
reference's size and the column's type and distinct values, each with its own threshold
(``legacy/calculations/stattests/registry.py::_get_default_stattest``, decision 0074).
``calibrated`` gives every column a p-value from a null that knows both sample sizes and
controls the false-discovery rate across columns (decision 0075).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aiplane.core.drift import stats
from aiplane.core.drift.compare import CategoricalComparison, NumericComparison
from aiplane.core.drift.report import ColumnVerdict, DriftOptions

Comparison = NumericComparison | CategoricalComparison
FloatArray = npt.NDArray[np.float64]

# Evidently: up to this many reference rows, tests with p-values; above, distances.
SMALL_REFERENCE = 1000
P_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1


@dataclass(frozen=True)
class Pending:
    """A calibrated column before the correction across columns."""

    name: str
    type: str
    test: str
    score: float
    p_value: float
    effect: float
    effect_name: str


def _effect(c: Comparison) -> tuple[float, str]:
    if isinstance(c, NumericComparison):
        return c.wasserstein_normed, "wasserstein_normed"
    return c.js, "js"


def _category_counts(c: Comparison) -> tuple[FloatArray, FloatArray] | None:
    if isinstance(c, CategoricalComparison):
        return c.reference_counts, c.current_counts
    return c.value_counts


def compatible(name: str, c: Comparison, reference_rows: int) -> ColumnVerdict:
    column_type = "numeric" if isinstance(c, NumericComparison) else "categorical"
    effect, effect_name = _effect(c)
    counts = _category_counts(c)
    if reference_rows <= SMALL_REFERENCE:
        if isinstance(c, NumericComparison) and counts is None:
            p = float(
                stats.ks_pvalue(
                    np.asarray(c.ks),
                    np.asarray(float(c.n_reference)),
                    np.asarray(float(c.n_current)),
                )
            )
            test, score = "ks", p
        elif counts is not None and np.count_nonzero(counts[0] + counts[1]) <= 2:
            ref, cur = counts
            first = int(np.flatnonzero(ref + cur)[0]) if np.any(ref + cur) else 0
            _, p = stats.z_test_two_proportions(ref[first], ref.sum(), cur[first], cur.sum())
            test, score = "z", p
        elif counts is not None:
            p = stats.chi_square_goodness_of_fit(counts[0], counts[1]).p_value
            test, score = "chisquare", p
        else:
            raise ValueError(f"{name}: a column of categories without counts")
        return ColumnVerdict(
            name,
            column_type,
            test,
            score,
            score,
            P_THRESHOLD,
            score < P_THRESHOLD,
            effect,
            effect_name,
        )
    if isinstance(c, NumericComparison) and counts is None:
        score = c.wasserstein_normed
        return ColumnVerdict(
            name,
            column_type,
            "wasserstein",
            score,
            None,
            DISTANCE_THRESHOLD,
            score >= DISTANCE_THRESHOLD,
            effect,
            effect_name,
        )
    if counts is None:
        raise ValueError(f"{name}: a column of categories without counts")
    score = stats.js_distance(stats.shares(counts[0]), stats.shares(counts[1]))
    return ColumnVerdict(
        name,
        column_type,
        "jensenshannon",
        score,
        None,
        DISTANCE_THRESHOLD,
        score >= DISTANCE_THRESHOLD,
        effect,
        effect_name,
    )


def calibrated_test(name: str, c: Comparison) -> Pending:
    """KS (asymptotic null at both sizes) for a number with many values; Pearson's test of
    homogeneity (both samples random) for categories and numbers with few values."""
    column_type = "numeric" if isinstance(c, NumericComparison) else "categorical"
    effect, effect_name = _effect(c)
    counts = _category_counts(c)
    if isinstance(c, NumericComparison) and counts is None:
        if c.n_current == 0 or c.n_reference == 0:
            return Pending(name, column_type, "ks", float("nan"), 1.0, effect, effect_name)
        sizes = (np.asarray(float(c.n_reference)), np.asarray(float(c.n_current)))
        p = float(stats.ks_pvalue(np.asarray(c.ks), *sizes))
        return Pending(name, column_type, "ks", c.ks, p, effect, effect_name)
    if counts is None:
        raise ValueError(f"{name}: a column of categories without counts")
    chi = stats.chi_square_two_sample(counts[0], counts[1])
    return Pending(name, column_type, "chisquare", chi.statistic, chi.p_value, effect, effect_name)


def calibrated(pending: list[Pending], options: DriftOptions) -> list[ColumnVerdict]:
    p_values = np.asarray([p.p_value for p in pending], dtype=np.float64)
    rejected, adjusted = stats.benjamini_hochberg(p_values, options.fdr)
    verdicts = []
    for p, significant, q in zip(pending, rejected, adjusted, strict=True):
        large = options.min_effect is None or (
            p.effect == p.effect and p.effect >= options.min_effect
        )
        verdicts.append(
            ColumnVerdict(
                name=p.name,
                type=p.type,
                test=p.test,
                score=p.score,
                p_value=p.p_value,
                threshold=options.fdr,
                drifted=bool(significant) and large,
                effect=p.effect,
                effect_name=p.effect_name,
                q_value=float(q),
            )
        )
    return verdicts
