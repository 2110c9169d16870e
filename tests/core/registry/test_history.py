"""What an alias held at T: boundaries, removals, moves at one instant, the timeline."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.registry.history import Holding, aliases_at, held_at, timeline
from aiplane.core.registry.records import AliasMove

MOVES = [
    AliasMove("churn", "production", 1, None, 100.0, "u-ann", ("u-bob",), "m1"),
    AliasMove("churn", "staging", 2, None, 150.0, "u-ann", (), "m2"),
    AliasMove("churn", "production", 2, 1, 200.0, "u-ann", ("u-bob", "u-cy"), "m3"),
    AliasMove("churn", "production", None, 2, 300.0, "u-admin", (), "m4"),
    AliasMove("churn", "production", 3, None, 400.0, "u-ann", ("u-cy",), "m5"),
]


@pytest.mark.parametrize(
    ("at", "version", "move_id"),
    [
        (99.999, None, None),  # before the first move: nothing
        (100.0, 1, "m1"),  # a move exactly at T is in force at T
        (199.999, 1, "m1"),
        (200.0, 2, "m3"),
        (300.0, None, "m4"),  # removed: the removal is in force
        (350.0, None, "m4"),
        (400.0, 3, "m5"),
        (1e12, 3, "m5"),
    ],
)
def test_held_at(at: float, version: int | None, move_id: str | None) -> None:
    holding = held_at(MOVES, "production", at)
    if move_id is None:
        assert holding is None
        return
    assert holding is not None
    assert (holding.version, holding.move_id) == (version, move_id)
    assert holding.removed is (version is None)
    assert holding.in_force_at(at)


def test_who_moved_it_and_with_which_approvals() -> None:
    holding = held_at(MOVES, "production", 250.0)
    assert holding == Holding(
        alias="production",
        version=2,
        since=200.0,
        until=300.0,
        by="u-ann",
        approvals=("u-bob", "u-cy"),
        previous=1,
        move_id="m3",
    )


def test_a_removal_says_who_removed_it() -> None:
    holding = held_at(MOVES, "production", 300.0)
    assert holding is not None
    assert (holding.removed, holding.by, holding.previous) == (True, "u-admin", 2)


def test_timeline_oldest_first_whatever_the_order_given() -> None:
    periods = timeline(reversed(MOVES), "production")
    assert [(p.version, p.since, p.until) for p in periods] == [
        (1, 100.0, 200.0),
        (2, 200.0, 300.0),
        (None, 300.0, 400.0),
        (3, 400.0, None),
    ]
    assert timeline(MOVES, "canary") == []


def test_moves_at_one_instant_the_last_given_is_in_force() -> None:
    moves = [
        AliasMove("churn", "production", 1, None, 100.0, "u-ann", (), "a"),
        AliasMove("churn", "production", 2, 1, 100.0, "u-ann", (), "b"),
    ]
    holding = held_at(moves, "production", 100.0)
    assert holding is not None and holding.move_id == "b"
    first = timeline(moves, "production")[0]
    assert (first.since, first.until) == (100.0, 100.0)
    assert not first.in_force_at(100.0)


def test_aliases_at_leaves_out_removed_and_not_yet_moved() -> None:
    assert {a: h.version for a, h in aliases_at(MOVES, 160.0).items()} == {
        "production": 1,
        "staging": 2,
    }
    assert {a: h.version for a, h in aliases_at(MOVES, 350.0).items()} == {"staging": 2}
    assert aliases_at(MOVES, 50.0) == {}


times = st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=12)


@given(at_times=times, probe=st.integers(min_value=-5, max_value=60))
def test_held_at_is_the_latest_move_not_after_t(at_times: list[int], probe: int) -> None:
    moves = [
        AliasMove("m", "production", i + 1, None, float(t), "u", (), f"m{i}")
        for i, t in enumerate(at_times)
    ]
    holding = held_at(moves, "production", float(probe))
    earlier = [m for m in moves if m.at <= probe]
    if not earlier:
        assert holding is None
    else:
        latest = max(m.at for m in earlier)
        assert holding is not None
        # the last given among those at the latest instant
        assert holding.move_id == [m for m in earlier if m.at == latest][-1].move_id
    # The timeline's periods tile the time from the first move on, without gaps.
    periods = timeline(moves, "production")
    for before, after in itertools.pairwise(periods):
        assert before.until == after.since
    assert periods[-1].until is None
