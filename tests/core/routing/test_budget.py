"""The retry budget: a floor per second, then a share of the first attempts, over 10 s."""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.routing import Router
from aiplane.core.routing.budget import RetryBudget


def test_the_floor_allows_min_per_s_times_the_window_with_no_traffic():
    budget = RetryBudget(ratio=0.2, min_per_s=10.0)
    granted = sum(budget.may_retry(0.0) for _ in range(150))
    assert granted == 100
    assert not budget.may_retry(9.9)
    assert budget.may_retry(10.0)  # the first ones are out of the window


def test_the_ratio_adds_a_share_of_first_attempts():
    budget = RetryBudget(ratio=0.2, min_per_s=1.0)
    for _ in range(1000):
        budget.attempt(0.0)
    granted = 0
    while budget.may_retry(1.0):
        budget.attempt(1.0)  # the retry is started like any request
        granted += 1
    assert granted == 210  # 0.2 x 1,000 first attempts + 1/s x 10 s


def test_retried_attempts_do_not_earn_retries():
    budget = RetryBudget(ratio=0.5, min_per_s=0.1)
    for _ in range(10):
        budget.attempt(0.0)
    granted = 0
    while budget.may_retry(0.0):
        budget.attempt(0.0)
        granted += 1
    # 0.5 x 10 + 1: had the retries' own attempts counted, each would have earned half a
    # retry more and the budget would have grown to 12.
    assert granted == 6


def test_the_window_forgets_old_attempts():
    budget = RetryBudget(ratio=1.0, min_per_s=0.0)
    for _ in range(5):
        budget.attempt(0.0)
    assert budget.may_retry(9.0)
    assert not budget.may_retry(10.5)  # the attempts at 0 are out of the window, none left


def test_the_router_exposes_the_budget():
    router = Router(retry_ratio=0.0, retry_min_per_s=0.3)
    assert [router.may_retry(0.0) for _ in range(4)] == [True, True, True, False]


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.tuples(st.floats(0.0, 3.0), st.booleans()), min_size=1, max_size=400),
    ratio=st.sampled_from([0.0, 0.1, 0.2, 1.0]),
    floor=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_retries_in_any_window_stay_within_the_bound(events, ratio, floor):
    budget = RetryBudget(ratio=ratio, min_per_s=floor)
    attempts: deque[float] = deque()
    retries: deque[float] = deque()
    now = 0.0
    for gap, is_retry in events:
        now += gap
        while attempts and attempts[0] <= now - 10.0:
            attempts.popleft()
        while retries and retries[0] <= now - 10.0:
            retries.popleft()
        bound = ratio * max(0, len(attempts) - len(retries)) + floor * 10.0
        if is_retry:
            granted = budget.may_retry(now)
            # Yes exactly when one more fits: never over the bound, never stingier.
            assert granted == (len(retries) + 1 <= bound)
            if granted:
                retries.append(now)
                budget.attempt(now)
                attempts.append(now)
                # The retries in the window, this one included, are within the bound when it
                # is granted. (Later the attempts that earned them may leave the window first.)
                assert len(retries) <= bound
        else:
            budget.attempt(now)
            attempts.append(now)
