"""Drift statistics on arrays: each returns its score and, where it has one, a p-value.

The functions take what a profile keeps (CDFs at edges, bin shares, category counts), not
rows, and the p-value functions take arrays, so one call serves every column of a check.
Distances use the natural logarithm, as scipy and Evidently do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]
# Evidently's PSI clips empty bins' shares to this, so a category seen on one side only
# scores finite (and high) rather than infinite.
PSI_EPSILON = 1e-4


def ks_from_cdfs(fr: FloatArray, fr_left: FloatArray, fc: FloatArray, fc_left: FloatArray) -> float:
    """sup |F_ref - F_cur| from both CDFs and their left limits at the same edges.

    When the edges are all the reference's distinct values this is the two-sample KS
    statistic exactly: between two edges F_ref is flat, so the supremum is reached at an
    edge or just before the next one.
    """
    if fr.size == 0:
        return 0.0
    return float(max(np.max(np.abs(fr - fc)), np.max(np.abs(fr_left - fc_left))))


# Effective sizes up to this get scipy's finite-n distribution exactly; above, Kolmogorov's
# limit, which is conservative by under 0.5% at p = 0.05 to 1e-8 from 100,000 on and costs
# microseconds where ``kstwo.sf`` takes up to half a second a column at 1e6 rows.
EXACT_KS_SIZE = 20_000


def ks_pvalue(d: FloatArray, n: FloatArray, m: FloatArray) -> FloatArray:
    """Two-sided p-values of KS statistics ``d`` for samples of sizes n and m: scipy's
    ``ks_2samp(method="asymp")`` (the one-sample distribution at the effective size
    nm/(n+m)) up to ``EXACT_KS_SIZE``, its limit ``kolmogorov(sqrt(en) d)`` above."""
    d, n, m = np.broadcast_arrays(np.asarray(d, float), np.asarray(n, float), np.asarray(m, float))
    en = np.maximum(np.round(n * m / (n + m)), 1.0)
    p = np.asarray(special.kolmogorov(np.sqrt(en) * d), dtype=np.float64)
    small = en <= EXACT_KS_SIZE
    if np.any(small):
        # scipy.stats costs half a second to import: only a small sample pays it.
        from scipy import stats as sps

        p = np.where(small, sps.kstwo.sf(d, en), p)
    return np.minimum(np.asarray(p, dtype=np.float64), 1.0)


def wasserstein_from_cdfs(
    edges: FloatArray,
    fr: FloatArray,
    fr_left: FloatArray,
    fc: FloatArray,
    fc_left: FloatArray,
    below: float,
    above: float,
) -> float:
    """W1 = integral of |F_ref - F_cur|, by the trapezoid between edges.

    ``below`` and ``above`` are the current sample's exact mass outside the edges' range
    (mean distance of its values under the first edge and over the last, times their share).
    """
    if edges.size < 2:
        return below + above
    width = np.diff(edges)
    start = np.abs(fr[:-1] - fc[:-1])
    end = np.abs(fr_left[1:] - fc_left[1:])
    return float(np.sum(width * (start + end) / 2.0) + below + above)


def shares(counts: npt.NDArray[np.int64] | FloatArray) -> FloatArray:
    total = float(np.sum(counts))
    if total == 0:
        return np.zeros(len(counts), dtype=np.float64)
    return np.asarray(counts, dtype=np.float64) / total


def js_distance(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon distance (the square root of the divergence), natural log."""
    m = (p + q) / 2.0
    divergence = 0.5 * np.sum(special.rel_entr(p, m)) + 0.5 * np.sum(special.rel_entr(q, m))
    return float(np.sqrt(max(0.0, float(divergence))))


def hellinger(p: FloatArray, q: FloatArray) -> float:
    return float(np.sqrt(max(0.0, 0.5 * float(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)))))


def psi(p: FloatArray, q: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of current shares q against reference shares p."""
    pe = np.clip(p, epsilon, None)
    qe = np.clip(q, epsilon, None)
    return float(np.sum((qe - pe) * np.log(qe / pe)))


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float


def chi_square_two_sample(reference: FloatArray, current: FloatArray) -> ChiSquare:
    """Pearson's test of homogeneity on the 2 x K table of counts: both samples random.

    Categories empty in both are left out. This is ``scipy.stats.chi2_contingency`` without
    Yates' correction.
    """
    keep = (reference + current) > 0
    table = np.vstack([reference[keep], current[keep]]).astype(np.float64)
    k = table.shape[1]
    if k < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return ChiSquare(0.0, max(k - 1, 0), 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = k - 1
    return ChiSquare(statistic, dof, float(special.chdtrc(dof, statistic)))


def chi_square_goodness_of_fit(reference: FloatArray, current: FloatArray) -> ChiSquare:
    """Evidently's chi-square: the current counts against the reference's, scaled to the
    current size, as exact expectations (``scipy.stats.chisquare``). A category the
    reference never saw makes the statistic infinite."""
    keep = (reference + current) > 0
    observed, ref = current[keep], reference[keep]
    if observed.size < 2 or ref.sum() == 0:
        return ChiSquare(0.0, max(observed.size - 1, 0), 1.0)
    expected = ref * (observed.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (observed - expected) ** 2 / expected, np.inf)
    statistic = float(np.sum(terms))
    dof = int(observed.size - 1)
    return ChiSquare(statistic, dof, float(special.chdtrc(dof, statistic)))


def z_test_two_proportions(x1: float, n1: float, x2: float, n2: float) -> tuple[float, float]:
    """Two-sided Z-test that two proportions x1/n1 and x2/n2 are equal (pooled variance)."""
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / float(np.sqrt(variance))
    return z, float(2.0 * special.ndtr(-abs(z)))


def benjamini_hochberg(p_values: FloatArray, q: float) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Which hypotheses Benjamini-Hochberg rejects at false-discovery rate q, and the
    adjusted p-values (q-values): reject the k smallest, k the largest with p_(k) <= kq/m."""
    m = p_values.size
    if m == 0:
        return np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.float64)
    order = np.argsort(p_values, kind="stable")
    ranked = p_values[order] * m / np.arange(1, m + 1)
    # Adjusted value of rank k: the smallest ranked value at k or above.
    adjusted_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = adjusted_sorted
    return adjusted <= q, adjusted


def mmd_rbf(
    x: FloatArray, y: FloatArray, rng: np.random.Generator, permutations: int = 200
) -> tuple[float, float]:
    """Squared maximum mean discrepancy between two samples of vectors (rows), with an RBF
    kernel whose width is the median pairwise distance, and its permutation p-value.

    Quadratic in the rows: meant for embeddings subsampled to a few thousand.
    """
    z = np.vstack([x, y]).astype(np.float64)
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    upper = d2[np.triu_indices_from(d2, k=1)]
    median = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    kernel = np.exp(-d2 / median)
    n = x.shape[0]

    def statistic(labels: npt.NDArray[np.bool_]) -> float:
        a, b = labels, ~labels
        kxx = kernel[np.ix_(a, a)]
        kyy = kernel[np.ix_(b, b)]
        kxy = kernel[np.ix_(a, b)]
        na, nb = kxx.shape[0], kyy.shape[0]
        # Unbiased: the diagonal (a point with itself) left out.
        sxx = (kxx.sum() - np.trace(kxx)) / (na * (na - 1))
        syy = (kyy.sum() - np.trace(kyy)) / (nb * (nb - 1))
        return float(sxx + syy - 2.0 * kxy.mean())

    labels = np.zeros(z.shape[0], dtype=np.bool_)
    labels[:n] = True
    observed = statistic(labels)
    exceed = 0
    for _ in range(permutations):
        if statistic(rng.permutation(labels)) >= observed:
            exceed += 1
    return observed, (1 + exceed) / (1 + permutations)


def auc_null_pvalue(auc: float, n_pos: int, n_neg: int) -> float:
    """One-sided p-value of a ROC AUC against 0.5, from the Mann-Whitney U's normal null."""
    sd = float(np.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg)))
    return float(special.ndtr(-(auc - 0.5) / sd))


def roc_auc(scores: FloatArray, labels: npt.NDArray[np.bool_]) -> float:
    """ROC AUC by ranks (ties share their mean rank)."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered)) + 1))
    ends = np.concatenate((starts[1:], [scores.size]))
    mean_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
