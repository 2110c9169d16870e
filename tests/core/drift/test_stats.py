"""The drift statistics against scipy's own, on random data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from aiplane.core.drift import stats
from aiplane.core.drift.columns import CategoricalColumn, NumericColumn
from aiplane.core.drift.compare import compare_categorical, compare_numeric
from aiplane.core.drift.profiles import categorical_profile, numeric_profile


@pytest.mark.parametrize("seed", range(5))
def test_ks_from_a_profile_equals_scipy_when_every_value_is_an_edge(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Rounded values: ties on both sides, and fewer distinct values than edges.
    ref = np.round(rng.normal(0, 1, 3000), 2)
    cur = np.round(rng.normal(0.1 * seed, 1.1, 2000), 2)
    profile = numeric_profile(ref)
    assert profile.exact
    c = compare_numeric(profile, NumericColumn(cur))
    expected = sps.ks_2samp(ref, cur, method="asymp")
    assert c.ks == pytest.approx(expected.statistic, abs=1e-12)
    p = stats.ks_pvalue(np.asarray(c.ks), np.asarray(3000.0), np.asarray(2000.0))
    assert float(p) == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_ks_from_quantile_edges_is_a_close_lower_bound() -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(0, 1, 200_000), rng.normal(0.02, 1, 100_000)
    profile = numeric_profile(ref, max_edges=1024)
    assert not profile.exact
    d = compare_numeric(profile, NumericColumn(cur)).ks
    exact = sps.ks_2samp(ref, cur).statistic
    assert exact - 2.0 / 1024 <= d <= exact + 1e-12


def test_wasserstein_from_a_profile_is_close_to_scipy() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.gamma(2.0, 1.5, 100_000), rng.gamma(2.0, 1.5, 50_000) + 0.3
    c = compare_numeric(numeric_profile(ref), NumericColumn(cur))
    expected = sps.wasserstein_distance(ref, cur) / ref.std()
    assert c.wasserstein_normed == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_chi_square_two_sample_equals_chi2_contingency(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 500, 8).astype(float)
    cur = rng.integers(1, 500, 8).astype(float)
    got = stats.chi_square_two_sample(ref, cur)
    statistic, p, dof, _ = sps.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert got.statistic == pytest.approx(statistic)
    assert got.p_value == pytest.approx(p)
    assert got.dof == dof


def test_chi_square_goodness_of_fit_equals_scipy_chisquare() -> None:
    ref = np.asarray([400.0, 300.0, 200.0, 100.0])
    cur = np.asarray([90.0, 80.0, 50.0, 30.0])
    got = stats.chi_square_goodness_of_fit(ref, cur)
    expected = sps.chisquare(cur, ref * cur.sum() / ref.sum())
    assert got.statistic == pytest.approx(expected.statistic)
    assert got.p_value == pytest.approx(expected.pvalue)


def test_categories_the_reference_never_saw_join_the_union() -> None:
    profile = categorical_profile(
        CategoricalColumn(np.asarray([0, 0, 1, 1, 1], dtype=np.int64), ("a", "b"))
    )
    current = CategoricalColumn(np.asarray([0, 1, 2, 2, -1], dtype=np.int64), ("b", "new", "a"))
    c = compare_categorical(profile, current)
    assert c.categories == ("a", "b", "new")
    assert c.reference_counts.tolist() == [2, 3, 0]
    assert c.current_counts.tolist() == [2, 1, 1]


def test_distances_equal_scipy_and_their_definitions() -> None:
    p = np.asarray([0.5, 0.3, 0.2])
    q = np.asarray([0.2, 0.3, 0.5])
    assert stats.js_distance(p, q) == pytest.approx(jensenshannon(p, q))
    assert stats.hellinger(p, q) == pytest.approx(
        np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))
    )
    assert stats.psi(p, q) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert stats.js_distance(p, p) == 0.0


def test_z_test_two_proportions_is_the_square_root_of_the_2x2_chi_square() -> None:
    z, p = stats.z_test_two_proportions(120, 1000, 160, 1000)
    chi = stats.chi_square_two_sample(np.asarray([120.0, 880.0]), np.asarray([160.0, 840.0]))
    assert z**2 == pytest.approx(chi.statistic)
    assert p == pytest.approx(chi.p_value)


def test_benjamini_hochberg_on_a_hand_computed_case() -> None:
    # Sorted: 0.001 0.008 0.039 0.041 0.042 0.06 0.074 0.205 (m = 8, q = 0.05):
    # k*q/m = 0.00625 0.0125 0.01875 0.025 0.03125 0.0375 0.04375 0.05, so only the first
    # two pass (0.039 > 0.01875 and no later rank passes its line).
    p = np.asarray([0.041, 0.001, 0.205, 0.008, 0.039, 0.06, 0.042, 0.074])
    rejected, adjusted = stats.benjamini_hochberg(p, 0.05)
    assert rejected.tolist() == [False, True, False, True, False, False, False, False]
    assert adjusted[1] == pytest.approx(0.008)
    assert adjusted[3] == pytest.approx(0.032)
    # Rank 3 onwards: min over k >= 3 of p_(k) * 8 / k = 0.042 * 8 / 5 = 0.0672.
    assert adjusted[4] == pytest.approx(0.0672)


def test_mmd_finds_a_shift_in_embeddings_and_not_noise() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (150, 8))
    same = rng.normal(0, 1, (150, 8))
    moved = rng.normal(0.4, 1, (150, 8))
    _, p_same = stats.mmd_rbf(x, same, np.random.default_rng(1), permutations=100)
    _, p_moved = stats.mmd_rbf(x, moved, np.random.default_rng(1), permutations=100)
    assert p_moved < 0.02
    assert p_same > 0.02


def test_roc_auc_equals_the_mann_whitney_statistic() -> None:
    rng = np.random.default_rng(2)
    scores = rng.normal(size=400)
    labels = rng.random(400) < 0.5
    scores[labels] += 0.3
    u = sps.mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert stats.roc_auc(scores, labels) == pytest.approx(u / (labels.sum() * (~labels).sum()))


def test_domain_classifier_sees_a_joint_shift_and_not_noise() -> None:
    from aiplane.core.drift.classifier import bin_rows, domain_classifier

    rng = np.random.default_rng(8)
    edges = np.quantile(rng.normal(size=10_000), np.linspace(0.1, 0.9, 9))

    def rows(n: int, shift: float) -> np.ndarray:
        return np.column_stack([bin_rows(rng.normal(shift, 1.0, n), edges) for _ in range(20)])

    bins = np.full(20, 10, dtype=np.int64)
    reference = rows(6000, 0.0)
    same = domain_classifier(reference, rows(6000, 0.0), bins, np.random.default_rng(1))
    # 0.1 std on each of 20 columns: small in each, plain together.
    moved = domain_classifier(reference, rows(6000, 0.1), bins, np.random.default_rng(1))
    assert moved.auc > 0.55 and moved.p_value < 1e-6
    assert abs(same.auc - 0.5) < 0.03 and same.p_value > 0.001


def test_ks_pvalue_at_large_sizes_is_kolmogorovs_limit_and_conservative() -> None:
    d = np.asarray([0.002, 0.003, 0.004])
    n = np.full(3, 1_000_000.0)
    got = stats.ks_pvalue(d, n, n)
    finite = sps.kstwo.sf(d, 500_000)
    assert np.all(got >= finite)
    assert np.allclose(got, finite, rtol=0.005)
