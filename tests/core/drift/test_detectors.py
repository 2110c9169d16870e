"""Page-Hinkley and ADWIN change detectors: delay on a step, false alarms on a steady series,
agreement with river's detectors, and state that survives a JSON round trip."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from aiplane.core.drift.detectors import Adwin, Detection, PageHinkley, restore, scan

Detector = PageHinkley | Adwin
MAKERS: dict[str, Callable[[], Detector]] = {
    # delta half the shift of interest (the classic CUSUM choice), so the sums drift down
    # steadily before a change and their extremum marks it.
    "page_hinkley": lambda: PageHinkley(delta=0.25, threshold=20.0),
    "adwin": lambda: Adwin(delta=0.002),
}


def step(seed: int, n: int = 2000, change: int = 1000, shift: float = 2.0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0.0, 1.0, n)
    x[change:] += shift
    return x


def feed(detector: Detector, values: np.ndarray, start: int = 0) -> list[Detection]:
    found = []
    for i, v in enumerate(values.tolist(), start=start):
        d = detector.update(v, float(i))
        if d is not None:
            found.append(d)
    return found


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("seed", range(5))
def test_step_change_found_with_bounded_delay(name: str, seed: int) -> None:
    change = 1000
    found = feed(MAKERS[name](), step(seed, change=change))
    after = [d for d in found if d.at >= change]
    assert after, "no detection after a two-sigma step"
    first = after[0]
    # Page-Hinkley needs about threshold / shift samples; ADWIN a clock tick or three more.
    assert first.at - change <= (80 if name == "page_hinkley" else 160)
    assert first.change_at is not None and abs(first.change_at - change) <= 64
    assert first.mean_before == pytest.approx(0.0, abs=0.35)
    # After the estimated change: mostly the new level (a few old samples when the estimate
    # comes early, and Page-Hinkley's comes a few samples early by construction).
    assert 1.0 <= first.mean_after - first.mean_before <= 2.6
    assert not [d for d in found if d.at < change - 100], "false alarm before the step"


def test_page_hinkley_false_alarms_at_the_nominal_rate() -> None:
    # Siegmund's approximation of a one-sided CUSUM's average run length under no change,
    # exp(2 d h) - 1 - 2 d h over 2 d^2 (unit variance), halved for the two sides.
    delta, threshold, n = 0.05, 20.0, 400_000
    a = 2.0 * delta * threshold
    nominal_run = (math.exp(a) - 1.0 - a) / (2.0 * delta * delta) / 2.0
    x = np.random.default_rng(11).normal(0.0, 1.0, n)
    alarms = len(scan(PageHinkley(delta=delta, threshold=threshold), x))
    expected = n / nominal_run
    assert 0.5 * expected <= alarms <= 1.5 * expected, (alarms, expected)


def test_page_hinkley_quiet_when_the_threshold_is_far() -> None:
    # Without forgetting (alpha = 1): with alpha < 1 the tolerance delta accumulates to at most
    # delta / (1 - alpha), so over much longer series the run length no longer follows the
    # formula above.
    x = np.random.default_rng(12).normal(0.0, 1.0, 200_000)
    assert scan(PageHinkley(delta=0.05, threshold=200.0, alpha=1.0), x) == []


def test_adwin_false_alarms_under_its_confidence() -> None:
    # Each test of the window is wrong with probability at most delta (the paper's bound):
    # over n / clock tests the expected false alarms are at most delta * n / clock.
    n, delta, clock = 200_000, 0.002, 32
    x = np.random.default_rng(13).normal(0.0, 1.0, n)
    alarms = len(scan(Adwin(delta=delta, clock=clock), x))
    assert alarms <= delta * n / clock, alarms


@pytest.mark.parametrize("seed", range(4))
def test_page_hinkley_scan_matches_update(seed: int) -> None:
    x = np.random.default_rng(seed).normal(0.0, 1.0, 20_000)
    x[7000:] += 0.5
    x[15000:] -= 1.0
    times = np.arange(len(x), dtype=np.float64) * 10.0
    one = PageHinkley(delta=0.05, threshold=15.0)
    by_sample = [
        d for v, t in zip(x.tolist(), times.tolist(), strict=True) if (d := one.update(v, t))
    ]
    batch = PageHinkley(delta=0.05, threshold=15.0)
    by_scan = batch.scan(x, times)
    assert len(by_scan) > 3
    assert [d.at for d in by_scan] == [d.at for d in by_sample]
    assert [d.change_at for d in by_scan] == [d.change_at for d in by_sample]
    mine, theirs = batch.state(), one.state()
    for key in ("n", "up_at", "down_at"):
        assert mine[key] == pytest.approx(theirs[key]), key
    for key in ("total", "up", "down", "up_min", "down_max"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-9, abs=1e-9), key


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_state_round_trip_resumes_the_same_stream(name: str) -> None:
    x = np.random.default_rng(5).normal(0.0, 1.0, 6000)
    x[2500:] += 1.0
    x[4100:] -= 2.0
    whole = feed(MAKERS[name](), x)
    first = MAKERS[name]()
    found = feed(first, x[:3000])
    saved = json.loads(json.dumps(first.state(), allow_nan=False))
    found += feed(restore(saved), x[3000:], start=3000)
    assert len(whole) >= 2
    assert found == whole


def test_restore_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        restore({"kind": "cusum"})


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_non_finite_values_are_refused(name: str) -> None:
    detector = MAKERS[name]()
    with pytest.raises(ValueError, match="finite"):
        detector.update(math.nan, 0.0)
    with pytest.raises(ValueError, match="finite"):
        scan(MAKERS[name](), np.array([1.0, math.inf]))


def test_adwin_without_grace_waits_for_two_samples() -> None:
    detector = Adwin(clock=1, grace=0, min_window=1)
    assert detector.update(0.0, 0.0) is None
    assert [d.at for d in scan(detector, np.r_[np.zeros(40), np.ones(40) * 5.0])] != []


def test_scan_checks_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        scan(PageHinkley(), np.zeros(3), np.zeros(4))


def synthetic(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, 5000)
    for c in rng.choice(len(x), 4, replace=False):
        x[c:] += rng.normal(0.0, 1.5)
    return x


def river_detections(detector: object, x: np.ndarray) -> list[int]:
    out = []
    for i, v in enumerate(x.tolist()):
        detector.update(v)  # type: ignore[attr-defined]
        if detector.drift_detected:  # type: ignore[attr-defined]
            out.append(i)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_river(seed: int) -> None:
    drift = pytest.importorskip("river.drift", reason="river is not installed (the dev extra)")
    x = synthetic(seed)
    ours_ph = [int(d.at) for d in scan(PageHinkley(delta=0.05, threshold=20.0), x)]
    theirs_ph = river_detections(drift.PageHinkley(delta=0.05, threshold=20.0), x)
    assert ours_ph and ours_ph == theirs_ph
    ours_ad = [int(d.at) for d in scan(Adwin(delta=0.002), x)]
    theirs_ad = river_detections(drift.ADWIN(delta=0.002), x)
    assert ours_ad and ours_ad == theirs_ad
