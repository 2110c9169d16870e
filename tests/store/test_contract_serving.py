"""The endpoints contract (memory, SQLite, PostgreSQL): specs round-trip with every field, a
taken name and a stale generation conflict, listings by team, deletes; request counters sum
across adds, read back by range and filter; units of work roll all of it back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.serving.endpoints import EndpointSpec, Protocol
from aiplane.store.base import Repositories, Store

from . import serving_factories as s
from .conftest import Member
from .factories import HOUR, T0


class HalfWayError(Exception):
    pass


# endpoints


def test_an_endpoint_round_trips_with_every_field(store: Store) -> None:
    full = s.endpoint()
    command = s.endpoint("chat", spec=s.command_spec())
    bare = s.endpoint("bare", spec=EndpointSpec(name="bare", team="vis"))
    for e in (full, command, bare):
        store.endpoints.put(e, expected_generation=None)

    assert store.endpoints.get("fraud") == full
    assert store.endpoints.get("chat") == command
    assert store.endpoints.find("bare") == bare
    got = store.endpoints.get("fraud").spec
    assert got.protocol is Protocol.OPENAI
    assert isinstance(got.sites, tuple) and isinstance(got.access.teams, tuple)
    # What a caller does to what it read stays with the caller.
    got.env["HF_HOME"] = "/elsewhere"  # type: ignore[index]
    assert store.endpoints.get("fraud") == full


def test_a_missing_endpoint_is_none_or_not_found(store: Store) -> None:
    assert store.endpoints.find("missing") is None
    with pytest.raises(NotFoundError, match="endpoint missing"):
        store.endpoints.get("missing")


def test_a_taken_name_conflicts_and_keeps_what_is_stored(store: Store) -> None:
    first = s.endpoint()
    store.endpoints.put(first, expected_generation=None)
    with pytest.raises(ConflictError, match="endpoint fraud exists already"):
        store.endpoints.put(s.endpoint(team="other", created_by="p-eve"), expected_generation=None)
    assert store.endpoints.get("fraud") == first


def test_a_replacement_is_a_compare_and_set_on_the_generation(store: Store) -> None:
    store.endpoints.put(s.endpoint(), expected_generation=None)
    second = s.endpoint(generation=2, spec=s.endpoint_spec(cpus=4.0, model="fraud@4"))
    store.endpoints.put(second, expected_generation=1)
    assert store.endpoints.get("fraud") == second

    stale = s.endpoint(generation=2, spec=s.endpoint_spec(cpus=8.0))
    for expected in (1, 3):
        with pytest.raises(ConflictError, match="generation 2, not"):
            store.endpoints.put(stale, expected_generation=expected)
    assert store.endpoints.get("fraud") == second

    with pytest.raises(NotFoundError, match="endpoint missing"):
        store.endpoints.put(s.endpoint("missing", generation=2), expected_generation=1)
    assert store.endpoints.find("missing") is None


def test_endpoints_list_by_name_and_by_team(store: Store) -> None:
    for name, team in [("zeta", "research"), ("alpha", "vis"), ("mid", "research")]:
        store.endpoints.put(s.endpoint(name, team), expected_generation=None)
    assert [e.name for e in store.endpoints.listing()] == ["alpha", "mid", "zeta"]
    assert [e.name for e in store.endpoints.listing(teams=["research"])] == ["mid", "zeta"]
    assert [e.name for e in store.endpoints.listing(teams={"vis", "research"})] == [
        "alpha",
        "mid",
        "zeta",
    ]
    assert store.endpoints.listing(teams=["nobody"]) == []
    assert store.endpoints.listing(teams=[]) == []
    assert store.endpoints.listing()[0] == s.endpoint("alpha", "vis")


def test_a_deleted_endpoint_is_gone_and_its_counters_stay(store: Store) -> None:
    store.endpoints.put(s.endpoint(), expected_generation=None)
    store.endpoints.put(s.endpoint("other"), expected_generation=None)
    store.endpoints.add_counts([s.request_count()])
    store.endpoints.delete("fraud")
    assert store.endpoints.find("fraud") is None
    assert [e.name for e in store.endpoints.listing()] == ["other"]
    with pytest.raises(NotFoundError, match="endpoint fraud"):
        store.endpoints.delete("fraud")
    assert store.endpoints.counts(since=s.H0, until=s.H0 + HOUR) == [s.request_count()]
    # The name is free again.
    store.endpoints.put(s.endpoint(), expected_generation=None)
    assert store.endpoints.get("fraud") == s.endpoint()


# request counters


def test_counts_are_summed_into_one_counter_per_key_and_hour(store: Store) -> None:
    c = s.request_count
    store.endpoints.add_counts([c(), c(token_id=None, requests=3, errors=0)])
    # The same key twice in one batch, and again in a second.
    store.endpoints.add_counts(
        [c(requests=5, errors=2, tokens_in=7, tokens_out=9), c(requests=1), c(token_id=None)]
    )
    store.endpoints.add_counts([])

    assert store.endpoints.counts(since=s.H0, until=s.H0 + HOUR) == [
        c(token_id=None, requests=13, errors=1, tokens_in=2000, tokens_out=500),
        c(requests=16, errors=4, tokens_in=2007, tokens_out=509),
    ]


def test_counts_read_a_range_of_hours_by_hour_endpoint_and_principal(store: Store) -> None:
    c = s.request_count
    h0, h1, h2 = s.H0, s.H0 + HOUR, s.H0 + 2 * HOUR
    added = [
        c("fraud", "p-zed", hour=h1),
        c("chat", "p-bob", hour=h1, team="vis"),
        c("fraud", "p-bob", hour=h1, token_id="t-2"),
        c("fraud", "p-bob", hour=h1, token_id=None),
        c("fraud", "p-bob", hour=h0),
        c("chat", "p-bob", hour=h2, team="vis"),
    ]
    store.endpoints.add_counts(added)
    counts = store.endpoints.counts

    assert counts(since=h0, until=h2 + HOUR) == [
        added[4],
        added[1],
        added[3],
        added[2],
        added[0],
        added[5],
    ]
    # [since, until): the hour at ``until`` is not in it.
    assert counts(since=h1, until=h2) == [added[1], added[3], added[2], added[0]]
    assert counts(since=h1 + 1, until=h2) == []
    assert counts(since=h0, until=h2 + HOUR, endpoint="chat") == [added[1], added[5]]
    assert counts(since=h0, until=h2, teams=["research"]) == [
        added[4],
        added[3],
        added[2],
        added[0],
    ]
    assert counts(since=h0, until=h2, endpoint="fraud", teams={"vis"}) == []
    assert counts(since=h0, until=h2 + HOUR, teams=[]) == []
    assert counts(since=h0, until=h2 + HOUR, endpoint="missing") == []


def test_counts_added_at_once_by_many_writers_are_all_kept(store: Store) -> None:
    writers, adds = 4, 10
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write() -> None:
        barrier.wait()
        try:
            for _ in range(adds):
                store.endpoints.add_counts(
                    [s.request_count(requests=1), s.request_count("chat", requests=2)]
                )
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    got = {x.endpoint: x.requests for x in store.endpoints.counts(since=s.H0, until=T0 + HOUR)}
    assert got == {"fraud": writers * adds, "chat": 2 * writers * adds}


# units of work


def _write_everything(repos: Repositories) -> None:
    repos.endpoints.put(s.endpoint(), expected_generation=None)
    repos.endpoints.put(s.endpoint("chat", spec=s.command_spec()), expected_generation=None)
    repos.endpoints.add_counts([s.request_count(), s.request_count(token_id=None)])


def test_a_unit_of_work_that_raises_leaves_nothing(store: Store) -> None:
    def fail_half_way() -> None:
        with store.unit_of_work() as uow:
            _write_everything(uow)
            assert uow.endpoints.get("fraud") == s.endpoint()  # visible inside
            raise HalfWayError

    with pytest.raises(HalfWayError):
        fail_half_way()
    assert store.endpoints.listing() == []
    assert store.endpoints.counts(since=0.0, until=T0 + HOUR) == []


def test_a_unit_of_work_that_ends_keeps_every_write(store: Store) -> None:
    with store.unit_of_work() as uow:
        _write_everything(uow)
    assert [e.name for e in store.endpoints.listing()] == ["chat", "fraud"]
    assert len(store.endpoints.counts(since=0.0, until=T0 + HOUR)) == 2


def test_a_rollback_restores_what_was_replaced_deleted_and_summed(store: Store) -> None:
    _write_everything(store)
    before = store.endpoints.counts(since=0.0, until=T0 + HOUR)

    def fail_half_way() -> None:
        with store.unit_of_work() as uow:
            uow.endpoints.put(s.endpoint(generation=2, created_by="p-eve"), expected_generation=1)
            uow.endpoints.delete("chat")
            uow.endpoints.add_counts(
                [s.request_count(requests=100), s.request_count(token_id="t-new")]
            )
            raise HalfWayError

    with pytest.raises(HalfWayError):
        fail_half_way()
    assert store.endpoints.get("fraud") == s.endpoint()
    assert store.endpoints.get("chat") == s.endpoint("chat", spec=s.command_spec())
    assert store.endpoints.counts(since=0.0, until=T0 + HOUR) == before


def test_a_lost_compare_and_set_inside_a_unit_leaves_the_unit_usable(store: Store) -> None:
    """On PostgreSQL a failed statement would doom the whole transaction: every refusal must
    be one the database did not raise."""
    _write_everything(store)
    with store.unit_of_work() as uow:
        refusals: list[Callable[[], object]] = [
            lambda: uow.endpoints.put(s.endpoint(), expected_generation=None),
            lambda: uow.endpoints.put(s.endpoint(generation=2), expected_generation=5),
        ]
        for refused in refusals:
            with pytest.raises(ConflictError):
                refused()
        with pytest.raises(NotFoundError):
            uow.endpoints.delete("missing")
        uow.endpoints.put(s.endpoint(generation=2), expected_generation=1)
    assert store.endpoints.get("fraud").generation == 2


def _race(attempts: list[Callable[[], object]]) -> list[BaseException | None]:
    """Run ``attempts`` at once; what each raised, None for each that returned."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[BaseException | None] = []

    def attempt(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
            outcomes.append(None)
        except BaseException as exc:  # noqa: BLE001 (the caller asserts on every outcome)
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_two_replacements_from_one_generation_have_one_winner(store: Store) -> None:
    store.endpoints.put(s.endpoint(), expected_generation=None)
    for generation in range(2, 6):
        contenders = [
            s.endpoint(generation=generation, created_by=who) for who in ("p-alice", "p-bob")
        ]
        outcomes = _race(
            [
                partial(store.endpoints.put, e, expected_generation=generation - 1)
                for e in contenders
            ]
        )
        assert outcomes.count(None) == 1, outcomes
        assert [type(x) for x in outcomes if x is not None] == [ConflictError]
        assert store.endpoints.get("fraud").generation == generation


def test_endpoints_survive_closing_and_reopening(member: Member) -> None:
    if not member.durable:
        pytest.skip(f"the {member.name} store keeps nothing after close")
    first = member.open()
    _write_everything(first)
    first.close()
    again = member.open()
    assert again.endpoints.get("fraud") == s.endpoint()
    assert again.endpoints.counts(since=s.H0, until=s.H0 + HOUR, endpoint="fraud") == [
        s.request_count(token_id=None),
        s.request_count(),
    ]


def test_a_spec_changes_only_through_put(store: Store) -> None:
    """``put`` stores the endpoint it is given: the spec's team moves the endpoint between team
    listings."""
    store.endpoints.put(s.endpoint(), expected_generation=None)
    moved = s.endpoint(generation=2, spec=replace(s.endpoint_spec(), team="vis"))
    store.endpoints.put(moved, expected_generation=1)
    assert store.endpoints.listing(teams=["research"]) == []
    assert store.endpoints.listing(teams=["vis"]) == [moved]
