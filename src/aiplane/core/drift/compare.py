"""One column of the current window against its reference profile: the raw measurements.

Everything a mode needs is computed here once per column (the current sample sorted once);
the modes (``modes.py``) only choose which measurement decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aiplane.core.drift import stats
from aiplane.core.drift.columns import CategoricalColumn, NumericColumn
from aiplane.core.drift.profiles import CategoricalProfile, NumericProfile

FloatArray = npt.NDArray[np.float64]
# Reference deciles: the bins of PSI, Jensen-Shannon and Hellinger on a numeric column.
SHARE_BINS = 10
# Evidently's floor on the reference's standard deviation in the normed Wasserstein distance.
STD_FLOOR = 0.001


@dataclass(frozen=True)
class NumericComparison:
    n_reference: int
    n_current: int
    ks: float
    wasserstein_normed: float
    psi: float
    js: float
    hellinger: float
    # Values of a column with few distinct ones, counted per value on both sides (the union
    # of values), for the tests of categories; None when the column has many.
    value_counts: tuple[FloatArray, FloatArray] | None
    n_values: int


@dataclass(frozen=True)
class CategoricalComparison:
    n_reference: int
    n_current: int
    reference_counts: FloatArray
    current_counts: FloatArray
    categories: tuple[str, ...]
    js: float
    psi: float
    hellinger: float


# Columns with at most this many distinct values (both sides together) are tested as
# categories; it is Evidently's cut (n_unique <= 5).
FEW_VALUES = 5


def compare_numeric(profile: NumericProfile, current: NumericColumn) -> NumericComparison:
    ordered = np.sort(current.values[~np.isnan(current.values)])
    m = int(ordered.size)
    edges = profile.edges
    if m == 0 or profile.n == 0:
        nan = float("nan")
        return NumericComparison(profile.n, m, nan, nan, nan, nan, nan, None, profile.n_unique)
    fc = np.searchsorted(ordered, edges, side="right") / m
    fc_left = np.searchsorted(ordered, edges, side="left") / m
    ks = stats.ks_from_cdfs(profile.cdf, profile.cdf_left, fc, fc_left)
    low = int(np.searchsorted(ordered, edges[0], side="left"))
    high = int(np.searchsorted(ordered, edges[-1], side="right"))
    below = float(np.sum(edges[0] - ordered[:low])) / m
    above = float(np.sum(ordered[high:] - edges[-1])) / m
    w = stats.wasserstein_from_cdfs(edges, profile.cdf, profile.cdf_left, fc, fc_left, below, above)
    ref_shares, cur_shares = _decile_shares(profile, ordered)
    value_counts, n_values = _few_values(profile, ordered)
    return NumericComparison(
        n_reference=profile.n,
        n_current=m,
        ks=ks,
        wasserstein_normed=w / max(profile.std, STD_FLOOR),
        psi=stats.psi(ref_shares, cur_shares),
        js=stats.js_distance(ref_shares, cur_shares),
        hellinger=stats.hellinger(ref_shares, cur_shares),
        value_counts=value_counts,
        n_values=n_values,
    )


def _decile_shares(profile: NumericProfile, ordered: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Shares of both samples in bins cut at the reference's deciles (as the profile knows
    them: the first edge at or past each decile)."""
    levels = np.arange(1, SHARE_BINS) / SHARE_BINS
    at = np.minimum(np.searchsorted(profile.cdf, levels, side="left"), profile.edges.size - 1)
    at = np.unique(at)
    ref_cdf = np.concatenate(([0.0], profile.cdf[at], [1.0]))
    cur_cdf = np.concatenate(
        ([0.0], np.searchsorted(ordered, profile.edges[at], side="right") / ordered.size, [1.0])
    )
    return np.diff(ref_cdf), np.diff(cur_cdf)


def _few_values(
    profile: NumericProfile, ordered: FloatArray
) -> tuple[tuple[FloatArray, FloatArray] | None, int]:
    if not profile.exact or profile.n_unique > FEW_VALUES:
        return None, profile.n_unique
    steps = np.flatnonzero(np.diff(ordered)) + 1
    current_values = ordered[np.concatenate(([0], steps))]
    union = np.union1d(profile.edges, current_values)
    if union.size > FEW_VALUES:
        return None, int(union.size)
    ref_counts = np.zeros(union.size)
    ref_counts[np.searchsorted(union, profile.edges)] = (
        np.diff(np.concatenate(([0.0], profile.cdf))) * profile.n
    )
    cur_counts = (
        np.searchsorted(ordered, union, side="right") - np.searchsorted(ordered, union, side="left")
    ).astype(np.float64)
    return (np.round(ref_counts), cur_counts), int(union.size)


def compare_categorical(
    profile: CategoricalProfile, current: CategoricalColumn
) -> CategoricalComparison:
    """Counts on the union of categories: the reference's first, then any the current adds."""
    index = {c: i for i, c in enumerate(profile.categories)}
    extra = [c for c in current.categories if c not in index]
    categories = profile.categories + tuple(extra)
    for c in extra:
        index[c] = len(index)
    mapping = np.asarray([index[c] for c in current.categories], dtype=np.int64)
    cur_raw = current.counts()
    cur = np.zeros(len(categories), dtype=np.float64)
    np.add.at(cur, mapping, cur_raw.astype(np.float64))
    ref = np.zeros(len(categories), dtype=np.float64)
    ref[: len(profile.categories)] = profile.counts
    p, q = stats.shares(ref), stats.shares(cur)
    return CategoricalComparison(
        n_reference=profile.n,
        n_current=int(cur.sum()),
        reference_counts=ref,
        current_counts=cur,
        categories=categories,
        js=stats.js_distance(p, q),
        psi=stats.psi(p, q),
        hellinger=stats.hellinger(p, q),
    )
