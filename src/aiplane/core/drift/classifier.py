"""A domain classifier: can a model tell the current rows from the reference rows?

Many columns at once, joint shifts included that no single column shows in full. The model is
naive Bayes on binned features (each column's bin index, as ``bin_rows`` makes them): per
column and bin the log ratio of the two sides' smoothed shares, learnt on one half of each
sample and summed over columns to score the other half. Its ROC AUC there is the score
(0.5: indistinguishable); the p-value is the AUC's Mann-Whitney null, valid because the held-out
rows took no part in the fit. It takes rows, so a caller passes a sample of each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aiplane.core.drift import stats

IntMatrix = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DomainClassifier:
    auc: float
    p_value: float
    # Per column, how far its learnt log ratios spread: which columns the model leaned on.
    column_weight: FloatArray


def bin_rows(values: FloatArray, edges: FloatArray) -> IntMatrix:
    """Bin indices of one numeric column against interior edges (e.g. reference deciles)."""
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def domain_classifier(
    reference: IntMatrix,
    current: IntMatrix,
    n_bins: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> DomainClassifier:
    """``reference`` and ``current``: rows x columns of bin indices, column j in [0, n_bins[j])."""
    ref = reference[rng.permutation(reference.shape[0])]
    cur = current[rng.permutation(current.shape[0])]
    half_r, half_c = ref.shape[0] // 2, cur.shape[0] // 2
    fit_r, test_r = ref[:half_r], ref[half_r:]
    fit_c, test_c = cur[:half_c], cur[half_c:]
    columns = reference.shape[1]
    ratios = []
    for j in range(columns):
        k = int(n_bins[j])
        # Add-one smoothing: a bin one side never showed scores finite.
        pr = (np.bincount(fit_r[:, j], minlength=k)[:k] + 1.0) / (half_r + k)
        pc = (np.bincount(fit_c[:, j], minlength=k)[:k] + 1.0) / (half_c + k)
        ratios.append(np.log(pc / pr))

    def score(rows: IntMatrix) -> FloatArray:
        total = np.zeros(rows.shape[0])
        for j in range(columns):
            total += ratios[j][np.minimum(rows[:, j], ratios[j].size - 1)]
        return total

    scores = np.concatenate([score(test_c), score(test_r)])
    labels = np.concatenate(
        [np.ones(test_c.shape[0], dtype=np.bool_), np.zeros(test_r.shape[0], dtype=np.bool_)]
    )
    auc = stats.roc_auc(scores, labels)
    p = stats.auc_null_pvalue(auc, int(labels.sum()), int((~labels).sum()))
    weight = np.asarray([float(np.std(r)) for r in ratios], dtype=np.float64)
    return DomainClassifier(auc=auc, p_value=p, column_weight=weight)
