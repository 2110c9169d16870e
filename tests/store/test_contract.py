"""The store contract: every member (memory, SQLite, PostgreSQL) must pass all of it."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.base import Store

from . import factories as f
from .conftest import Member

# fleet


def test_fleet_versions_increase_and_the_newest_is_in_force(store: Store) -> None:
    assert store.fleets.current() is None
    documents = [
        {"sites": [{"name": f"site-{i}", "pools": [{"nodes": i, "price": 1.35 * i}]}]}
        for i in range(3)
    ]

    records = [store.fleets.put(doc, applied_at=f.T0 + i) for i, doc in enumerate(documents)]

    versions = [r.version for r in records]
    assert versions == sorted(set(versions))
    assert [dict(r.document) for r in records] == documents
    newest = store.fleets.current()
    assert newest == records[-1]
    assert newest is not None and newest.applied_at == f.T0 + 2


def test_fleet_history_lists_the_versions_applied_until_a_time_oldest_first(
    store: Store,
) -> None:
    assert store.fleets.history(f.T0 + 100) == []
    records = [store.fleets.put({"sites": [str(i)]}, applied_at=f.T0 + 10 * i) for i in range(3)]

    assert store.fleets.history(f.T0 + 100) == records
    assert store.fleets.history(f.T0 + 10) == records[:2]
    assert store.fleets.history(f.T0 - 1) == []


# jobs and runs


def test_a_job_and_its_run_round_trip_with_every_field(store: Store) -> None:
    job = f.job(1)
    run = f.finished_run(job)

    store.jobs.add(job, run)

    assert store.jobs.get(job.id) == job
    assert store.jobs.get_run(run.id) == run
    assert store.jobs.run_for_job(job.id) == run
    assert store.jobs.page(limit=10) == [(job, run)]


def test_a_fresh_run_round_trips_without_placement(store: Store) -> None:
    job = f.job(1)
    run = f.run(job)
    store.jobs.add(job, run)
    stored = store.jobs.get_run(run.id)
    assert stored == run
    assert stored.placement is None and stored.handles == ()


def test_a_duplicate_job_id_conflicts_and_stores_nothing(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)
    again = replace(f.job(1, name="other"), submitted_by="mallory")

    with pytest.raises(ConflictError):
        store.jobs.add(again, replace(run, id="r-new"))

    assert store.jobs.get(job.id) == job
    with pytest.raises(NotFoundError):
        store.jobs.get_run("r-new")


def test_a_duplicate_run_id_conflicts_and_the_job_is_not_kept(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)
    other = f.job(2)

    with pytest.raises(ConflictError):
        store.jobs.add(other, replace(run, job_id=other.id))

    # The job and run go in together or not at all.
    with pytest.raises(NotFoundError):
        store.jobs.get(other.id)
    assert [j.id for j, _ in store.jobs.page(limit=10)] == [job.id]


@pytest.mark.parametrize(
    "lookup",
    [
        lambda s: s.jobs.get("j-missing"),
        lambda s: s.jobs.get_run("r-missing"),
        lambda s: s.jobs.run_for_job("j-missing"),
        lambda s: s.jobs.update_run(f.run(f.job(9)), expected_state=RunState.PENDING),
    ],
    ids=["get_job", "get_run", "run_for_job", "update_run"],
)
def test_unknown_ids_are_not_found(store: Store, lookup: Callable[[Store], object]) -> None:
    with pytest.raises(NotFoundError):
        lookup(store)


def _pages(store: Store, page_size: int, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    before: str | None = None
    while True:
        page = store.jobs.page(limit=page_size, before=before, **filters)
        if not page:
            return pages
        assert len(page) <= page_size
        pages.append([job.id for job, _ in page])
        before = page[-1][0].id


def test_list_jobs_is_newest_first_and_pages_without_gaps_or_repeats(store: Store) -> None:
    numbers = list(range(1, 26))
    random.Random(7).shuffle(numbers)  # insertion order must not matter
    for n in numbers:
        store.jobs.add(*f.job_and_run(n))
    expected = [f.job_id(n) for n in range(25, 0, -1)]

    pages = _pages(store, page_size=7)

    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [job_id for page in pages for job_id in page] == expected
    assert store.jobs.page(limit=100) == store.jobs.page(limit=100, before="k")
    assert store.jobs.page(limit=5, before=f.job_id(1)) == []
    # The cursor need not be a stored id.
    assert [j.id for j, _ in store.jobs.page(limit=2, before=f.job_id(10) + "x")] == [
        f.job_id(10),
        f.job_id(9),
    ]


def test_list_jobs_orders_ids_bytewise(store: Store) -> None:
    # A locale collation would interleave case and skip punctuation; ids must sort as bytes.
    ids = ["j-b", "jA", "ja", "jB", "j_a", "j0", "j9z", "jZ"]
    for job_id in ids:
        job = replace(f.job(1), id=job_id)
        store.jobs.add(job, replace(f.run(job), id="r" + job_id))

    listed = [j.id for j, _ in store.jobs.page(limit=100)]

    assert listed == sorted(ids, reverse=True)
    assert [j.id for j, _ in store.jobs.page(limit=100, before="ja")] == [
        i for i in sorted(ids, reverse=True) if i < "ja"
    ]


def test_list_jobs_filters_by_state_and_team(store: Store) -> None:
    states = [RunState.PENDING, RunState.RUNNING, RunState.SUCCEEDED]
    teams = ["research", "prod"]
    for n in range(1, 31):
        state, team = states[n % 3], teams[n % 2]
        job, run = f.job_and_run(n, team=team, state=state)
        store.jobs.add(job, run)

    def ids(**filters: Any) -> list[str]:
        return [j for page in _pages(store, page_size=4, **filters) for j in page]

    def expected(keep: Callable[[int], bool]) -> list[str]:
        return [f.job_id(n) for n in range(30, 0, -1) if keep(n)]

    assert ids(states=[RunState.RUNNING]) == expected(lambda n: n % 3 == 1)
    assert ids(states={RunState.PENDING, RunState.SUCCEEDED}) == expected(lambda n: n % 3 != 1)
    assert ids(team="prod") == expected(lambda n: n % 2 == 1)
    assert ids(team="prod", states=[RunState.PENDING]) == expected(
        lambda n: n % 2 == 1 and n % 3 == 0
    )
    assert ids(states=[RunState.CANCELLED]) == []
    assert ids(team="nobody") == []
    assert store.jobs.page(limit=10, states=[]) == []
    for job, run in store.jobs.page(limit=100, states=[RunState.RUNNING], team="research"):
        assert run.state is RunState.RUNNING and job.workload.team == "research"
        assert run.job_id == job.id


def test_list_jobs_sees_the_current_run_state(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)
    admitted = store.jobs.update_run(
        run.transition(RunState.ADMITTED, f.T0 + 5), expected_state=RunState.PENDING
    )

    assert store.jobs.page(limit=10, states=[RunState.PENDING]) == []
    assert store.jobs.page(limit=10, states=[RunState.ADMITTED]) == [(job, admitted)]


def test_runs_in_states_returns_matching_runs_oldest_job_first(store: Store) -> None:
    plan = {1: RunState.RUNNING, 2: RunState.PENDING, 3: RunState.RUNNING, 4: RunState.ADMITTED}
    for n in (3, 1, 4, 2):
        store.jobs.add(*f.job_and_run(n, state=plan[n]))

    active = store.jobs.runs_in_states([RunState.ADMITTED, RunState.RUNNING])

    assert [r.job_id for r in active] == [f.job_id(1), f.job_id(3), f.job_id(4)]
    assert all(r == store.jobs.get_run(r.id) for r in active)
    assert store.jobs.runs_in_states([RunState.CANCELLED]) == []
    assert store.jobs.runs_in_states([]) == []


def test_runs_updated_since_returns_runs_with_jobs_oldest_update_first(store: Store) -> None:
    pairs = [f.job_and_run(n) for n in range(1, 5)]
    for job, run in pairs:
        store.jobs.add(job, run)
    (j1, r1), (_, r2), (j3, r3), (j4, r4) = pairs
    # Updated out of job order: 3 first, then 1; 2 and 4 keep their submission times.
    w3 = store.jobs.update_run(
        replace(r3, reason="waiting", updated_at=f.T0 + 100), RunState.PENDING
    )
    store.jobs.update_run(replace(r1, reason="waiting", updated_at=f.T0 + 200), RunState.PENDING)

    since = store.jobs.runs_updated_since(f.T0 + 4, limit=10)

    assert [(job.id, run.id) for job, run in since] == [
        (j4.id, r4.id),
        (j3.id, r3.id),
        (j1.id, r1.id),
    ]
    assert since[1] == (j3, w3)
    assert w3 == replace(r3, reason="waiting", updated_at=f.T0 + 100, revision=r3.revision + 1)
    assert [run.id for _, run in store.jobs.runs_updated_since(f.T0 + 100, limit=10)] == [
        r3.id,
        r1.id,
    ]
    assert [run.id for _, run in store.jobs.runs_updated_since(f.T0, limit=2)] == [r2.id, r4.id]
    assert store.jobs.runs_updated_since(f.T0 + 201, limit=10) == []
    assert store.jobs.runs_updated_since(f.T0, limit=0) == []


def test_update_run_replaces_the_run_when_the_state_is_as_expected(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)
    placed = replace(run.transition(RunState.ADMITTED, f.T0 + 5, "placed"), placement=f.placement())

    stored = store.jobs.update_run(placed, expected_state=RunState.PENDING)
    assert stored == replace(placed, revision=run.revision + 1)
    running = replace(
        stored.transition(RunState.STARTING, f.T0 + 6).transition(RunState.RUNNING, f.T0 + 9),
        handles=({"pid": 1}, {"pid": 2}),
    )
    running = store.jobs.update_run(running, expected_state=RunState.ADMITTED)

    assert running.revision == run.revision + 2
    assert store.jobs.get_run(run.id) == running
    assert store.jobs.run_for_job(job.id) == running
    assert store.jobs.get(job.id) == job


def test_update_run_with_a_stale_state_conflicts_and_changes_nothing(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)
    cancelled = store.jobs.update_run(
        run.transition(RunState.CANCELLED, f.T0 + 1, "by request"), RunState.PENDING
    )

    late = run.transition(RunState.ADMITTED, f.T0 + 2)
    with pytest.raises(ConflictError, match="is cancelled, not pending"):
        store.jobs.update_run(late, expected_state=RunState.PENDING)

    assert store.jobs.get_run(run.id) == cancelled


def test_a_write_from_a_stale_read_conflicts_even_in_the_expected_state(store: Store) -> None:
    """Two writers read the same running run; one records a checkpoint, then the other
    writes back what it read: the state is still the one it expects, but the revision is not,
    so the checkpoint is not overwritten."""
    job, run = f.job_and_run(1, state=RunState.RUNNING)
    store.jobs.add(job, run)
    first, second = store.jobs.get_run(run.id), store.jobs.get_run(run.id)
    saved = store.jobs.update_run(
        replace(first, last_checkpoint_at=f.T0 + 50, checkpoint_uri="s3://ckpt/50"),
        RunState.RUNNING,
    )

    with pytest.raises(ConflictError, match="revision"):
        store.jobs.update_run(
            replace(second, reason="stale", updated_at=f.T0 + 60), RunState.RUNNING
        )

    assert store.jobs.get_run(run.id) == saved
    # Read again, the same change goes through and keeps the checkpoint.
    again = store.jobs.update_run(
        replace(store.jobs.get_run(run.id), reason="fresh"), RunState.RUNNING
    )
    assert again.checkpoint_uri == "s3://ckpt/50" and again.revision == saved.revision + 1
    assert store.jobs.get_run(run.id) == again


def test_a_revision_counts_every_write_and_survives_listings(store: Store) -> None:
    job, run = f.job_and_run(1)
    store.jobs.add(job, run)
    assert store.jobs.get_run(run.id).revision == run.revision
    current = run
    for i in range(3):
        current = store.jobs.update_run(replace(current, reason=f"wait {i}"), RunState.PENDING)
    assert current.revision == run.revision + 3
    assert store.jobs.run_for_job(job.id) == current
    assert store.jobs.runs_in_states([RunState.PENDING]) == [current]
    assert store.jobs.page(limit=5) == [(job, current)]
    assert store.jobs.runs_updated_since(0.0, limit=5) == [(job, current)]


def _race(store: Store, contenders: list[Run], expected: RunState) -> tuple[list[Run], list[Any]]:
    """Start every contender's update_run at the same moment; return winners and errors."""
    barrier = threading.Barrier(len(contenders))
    won: list[Run] = []
    lost: list[Any] = []

    def attempt(candidate: Run) -> None:
        barrier.wait()
        try:
            won.append(store.jobs.update_run(candidate, expected_state=expected))
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            lost.append(exc)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return won, lost


def test_concurrent_transitions_of_one_run_have_exactly_one_winner(store: Store) -> None:
    """Two loops move the same run at once (scheduler admits, user cancels): one must lose."""
    rounds = 12
    for n in range(rounds):
        store.jobs.add(*f.job_and_run(n))

    for n in range(rounds):
        run = store.jobs.run_for_job(f.job_id(n))
        contenders = [
            run.transition(RunState.ADMITTED, f.T0 + 10, "scheduler"),
            run.transition(RunState.CANCELLED, f.T0 + 10, "user"),
        ]

        won, lost = _race(store, contenders, expected=RunState.PENDING)

        assert len(won) == 1, (won, lost)
        assert len(lost) == 1 and isinstance(lost[0], ConflictError), lost
        assert store.jobs.get_run(run.id) == won[0]


def test_racing_writers_that_keep_the_state_have_exactly_one_winner(store: Store) -> None:
    """Two writers rewrite the same read of a running run at once (a checkpoint, a reason),
    neither changing its state: only the revision tells them apart, and one must lose."""
    rounds = 12
    for n in range(rounds):
        store.jobs.add(*f.job_and_run(n, state=RunState.RUNNING))

    for n in range(rounds):
        run = store.jobs.run_for_job(f.job_id(n))
        contenders = [
            replace(run, last_checkpoint_at=f.T0 + 10, checkpoint_uri="ckpt/10"),
            replace(run, reason="still running"),
        ]

        won, lost = _race(store, contenders, expected=RunState.RUNNING)

        assert len(won) == 1, (won, lost)
        assert len(lost) == 1 and isinstance(lost[0], ConflictError), lost
        assert store.jobs.get_run(run.id) == won[0]


def test_writers_on_several_threads_lose_nothing(store: Store) -> None:
    threads_n, per_thread = 6, 15
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        try:
            for i in range(per_thread):
                n = worker * 1000 + i
                job, run = f.job_and_run(n)
                store.jobs.add(job, run)
                store.jobs.update_run(
                    run.transition(RunState.ADMITTED, f.T0), expected_state=RunState.PENDING
                )
                store.events.add(f.event(n, job=job))
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert len(store.jobs.page(limit=1000)) == threads_n * per_thread
    assert len(store.jobs.runs_in_states([RunState.ADMITTED])) == threads_n * per_thread
    events = store.events.recent(limit=1000)
    assert len({e.id for e in events}) == threads_n * per_thread


# events


def test_events_get_increasing_ids_and_list_oldest_first(store: Store) -> None:
    first, second = f.job(1), f.job(2)
    added = [
        store.events.add(f.event(1, job=first)),
        store.events.add(f.event(2, kind="fleet.applied")),
        store.events.add(f.event(3, job=second)),
        store.events.add(f.event(4, job=first)),
        store.events.add(f.event(5, job=first)),
    ]

    ids = [e.id for e in added]
    assert all(i is not None for i in ids)
    assert ids == sorted(set(ids))  # type: ignore[type-var]
    assert added[0] == replace(f.event(1, job=first), id=ids[0])

    assert store.events.recent(job_id=first.id) == [added[0], added[3], added[4]]
    assert store.events.recent(job_id=second.id) == [added[2]]
    assert store.events.recent() == added
    assert store.events.recent(job_id="j-missing") == []


def test_list_events_with_a_limit_keeps_the_newest(store: Store) -> None:
    job = f.job(1)
    added = [store.events.add(f.event(n, job=job)) for n in range(10)]
    store.events.add(f.event(99))

    assert store.events.recent(job_id=job.id, limit=3) == added[-3:]
    assert [e.message for e in store.events.recent(limit=2)] == ["event 9", "event 99"]


# durability


def _fill(store: Store) -> tuple[Job, Run]:
    store.tokens.add(f.token(1))
    store.fleets.put({"sites": ["a"]}, f.T0)
    store.fleets.put({"sites": ["a", "b"]}, f.T0 + 1)
    job = f.job(1)
    run = f.finished_run(job)
    store.jobs.add(job, run)
    store.events.add(f.event(1, job=job))
    return job, run


def test_data_survives_closing_and_reopening(member: Member) -> None:
    if not member.durable:
        pytest.skip(f"the {member.name} store keeps nothing after close")
    first = member.open()
    job, run = _fill(first)
    events = first.events.recent()
    fleet = first.fleets.current()
    first.close()

    reopened = member.open()

    assert reopened.tokens.by_hash(f.token(1).token_hash) == f.token(1)
    assert reopened.fleets.current() == fleet
    assert reopened.jobs.get(job.id) == job
    assert reopened.jobs.run_for_job(job.id) == run
    assert reopened.events.recent() == events
    later = reopened.events.add(f.event(2))
    assert later.id is not None and events[-1].id is not None and later.id > events[-1].id
    newer = reopened.fleets.put({"sites": []}, f.T0 + 2)
    assert fleet is not None and newer.version > fleet.version
