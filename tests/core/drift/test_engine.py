"""A drift check end to end in the core: profiles, both modes, the dataset verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiplane.core.drift import (
    CategoricalColumn,
    Column,
    ColumnMismatchError,
    DriftMode,
    DriftOptions,
    NumericColumn,
    ReferenceProfile,
    build_profile,
    check,
)

LEVELS = ("a", "b", "c", "d")
PROBS = np.asarray([0.4, 0.3, 0.2, 0.1])


def window(
    rng: np.random.Generator, n: int, shift: float = 0.0, mix: float = 0.0
) -> dict[str, Column]:
    columns: dict[str, Column] = {}
    for j in range(8):
        columns[f"num_{j}"] = NumericColumn(rng.normal(0.0, 1.0, n) + (shift if j == 0 else 0.0))
    probs = (1 - mix) * PROBS + mix * PROBS[::-1]
    columns["cat"] = CategoricalColumn(rng.choice(4, size=n, p=probs).astype(np.int64), LEVELS)
    columns["flag"] = CategoricalColumn(
        rng.choice(2, size=n, p=[0.7, 0.3]).astype(np.int64), ("no", "yes")
    )
    return columns


def test_no_drift_rejects_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(0)
    profile = build_profile(window(rng, 5000))
    flagged = tested = 0
    for _ in range(40):
        report = check(profile, window(rng, 4000), DriftOptions(fdr=0.05))
        flagged += sum(c.drifted for c in report.columns)
        tested += len(report.columns)
    # 400 null columns; BH at q = 0.05 with every null true holds the chance of any
    # rejection in a window to 5%, so a handful at most.
    assert flagged <= 8
    assert tested == 400


def test_p_values_under_no_drift_are_not_anticonservative() -> None:
    rng = np.random.default_rng(1)
    profile = build_profile(window(rng, 3000))
    p = [c.p_value for _ in range(30) for c in check(profile, window(rng, 3000)).columns]
    share = np.mean(np.asarray(p) < 0.05)
    assert share < 0.09


def test_a_small_mean_shift_and_a_category_mix_are_found() -> None:
    rng = np.random.default_rng(2)
    profile = build_profile(window(rng, 100_000))
    report = check(profile, window(rng, 100_000, shift=0.05, mix=0.05))
    drifted = {c.name for c in report.columns if c.drifted}
    assert {"num_0", "cat"} <= drifted
    assert len(drifted - {"num_0", "cat"}) <= 1
    by_name = {c.name: c for c in report.columns}
    assert by_name["num_0"].effect == pytest.approx(0.05, abs=0.02)
    assert not report.dataset_drift
    assert report.share_drifted == pytest.approx(len(drifted) / 10)


def test_a_minimum_effect_keeps_significant_but_tiny_shifts_out() -> None:
    rng = np.random.default_rng(3)
    profile = build_profile(window(rng, 100_000))
    current = window(rng, 100_000, shift=0.05)
    assert any(c.drifted for c in check(profile, current).columns)
    strict = check(profile, current, DriftOptions(min_effect=0.2))
    assert not any(c.drifted for c in strict.columns)


def test_dataset_drift_at_the_share() -> None:
    rng = np.random.default_rng(4)
    profile = build_profile(window(rng, 2000))
    current = {
        name: NumericColumn(rng.normal(1.0, 1.0, 2000)) for name in [f"num_{j}" for j in range(8)]
    }
    report = check(profile, current)
    assert report.dataset_drift and report.share_drifted == 1.0


def test_compatible_mode_chooses_evidentlys_tests_by_reference_size() -> None:
    rng = np.random.default_rng(5)
    small = check(
        build_profile(window(rng, 800)), window(rng, 800), DriftOptions(mode=DriftMode.COMPATIBLE)
    )
    tests = {c.name: c.test for c in small.columns}
    assert tests["num_0"] == "ks" and tests["cat"] == "chisquare" and tests["flag"] == "z"
    large = check(
        build_profile(window(rng, 3000)),
        window(rng, 3000, shift=0.5),
        DriftOptions(mode=DriftMode.COMPATIBLE),
    )
    by_name = {c.name: c for c in large.columns}
    assert by_name["num_0"].test == "wasserstein" and by_name["cat"].test == "jensenshannon"
    assert by_name["num_0"].drifted and by_name["num_0"].threshold == 0.1
    assert not by_name["num_1"].drifted


def test_a_profile_survives_json() -> None:
    rng = np.random.default_rng(6)
    profile = build_profile(window(rng, 2000))
    again = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    current = window(rng, 2000, shift=0.2)
    assert check(again, current).to_dict() == check(profile, current).to_dict()


def test_a_column_of_another_type_is_named() -> None:
    rng = np.random.default_rng(7)
    profile = build_profile(window(rng, 100))
    with pytest.raises(
        ColumnMismatchError, match="cat: numeric in the current window, categorical"
    ):
        check(profile, {"cat": NumericColumn(np.zeros(10))})
