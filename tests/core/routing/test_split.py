"""The canary and shadow split: shares as weighted, nothing without a version."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.routing import shadowed, split
from aiplane.core.serving.endpoints import Role, Traffic


@pytest.mark.parametrize("weight", [0.01, 0.1, 0.5, 0.9])
def test_canary_share_of_10000_draws_is_within_1_percent_of_its_weight(weight):
    rng = random.Random(12)
    traffic = Traffic(
        canary="fraud@4", canary_weight=weight, shadow="fraud@5", shadow_weight=weight
    )
    roles = [split(traffic, rng.random()) for _ in range(10_000)]
    shadows = [shadowed(traffic, rng.random()) for _ in range(10_000)]
    assert abs(roles.count(Role.CANARY) / 10_000 - weight) <= 0.01
    assert abs(sum(shadows) / 10_000 - weight) <= 0.01


@given(u=st.floats(0.0, 1.0, exclude_max=True), weight=st.floats(0.0, 1.0))
def test_no_version_no_share(u, weight):
    traffic = Traffic(canary_weight=weight, shadow_weight=weight)
    assert split(traffic, u) is Role.PRIMARY
    assert not shadowed(traffic, u)


@given(u=st.floats(0.0, 1.0, exclude_max=True))
def test_weights_zero_and_one_are_never_and_always(u):
    never = Traffic(canary="c", canary_weight=0.0, shadow="s", shadow_weight=0.0)
    always = Traffic(canary="c", canary_weight=1.0, shadow="s", shadow_weight=1.0)
    assert split(never, u) is Role.PRIMARY and not shadowed(never, u)
    assert split(always, u) is Role.CANARY and shadowed(always, u)
