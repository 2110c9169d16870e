"""The decaying p95: exact on steady values, weighted to the recent ones."""

from __future__ import annotations

import pytest

from aiplane.core.routing.latency import DecayingQuantile


def test_nothing_observed_is_none_with_no_weight():
    q = DecayingQuantile(halflife_s=30.0)
    assert q.value() is None and q.weight(0.0) == 0.0


def test_a_steady_latency_reads_as_itself():
    q = DecayingQuantile(halflife_s=30.0)
    for i in range(100):
        q.observe(40.0, i / 10)
    assert q.value() == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("fast", "slow", "p95"),
    [
        (95, 5, 10.0),  # the 95th of 100 is still fast
        (90, 10, 500.0),  # a tenth slow: the p95 is slow
    ],
)
def test_the_95th_percentile(fast, slow, p95):
    q = DecayingQuantile(halflife_s=30.0)
    for _ in range(fast):
        q.observe(10.0, 0.0)
    for _ in range(slow):
        q.observe(500.0, 0.0)
    assert q.value() == pytest.approx(p95)


def test_old_observations_weigh_less():
    q = DecayingQuantile(halflife_s=30.0)
    for _ in range(100):
        q.observe(500.0, 0.0)
    for _ in range(20):
        q.observe(10.0, 300.0)  # ten half-lives on: the 100 old ones weigh 0.1 together
    assert q.value() == pytest.approx(10.0)
    assert q.weight(300.0) == pytest.approx(20.0 + 100 / 1024)
    assert q.weight(330.0) == pytest.approx((20.0 + 100 / 1024) / 2)


def test_weights_are_rescaled_far_from_the_landmark():
    q = DecayingQuantile(halflife_s=1.0)
    q.observe(500.0, 0.0)
    q.observe(20.0, 1e6)  # 2 ** 1e6 would overflow a float
    assert q.value() == pytest.approx(20.0)
    assert q.weight(1e6) == pytest.approx(1.0)
    q.observe(30.0, 1e6)
    assert q.weight(1e6 + 1.0) == pytest.approx(1.0)


def test_zero_and_negative_latencies_share_the_lowest_bucket():
    q = DecayingQuantile(halflife_s=30.0)
    q.observe(0.0, 0.0)
    q.observe(-1.0, 0.0)
    assert q.value() == pytest.approx(-0.5)  # the mean of the bucket's values
