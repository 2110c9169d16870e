"""The store contract for idempotency keys of submissions (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from aiplane.core.idempotency import TTL_S, IdempotencyRecord, KeyInFlightError
from aiplane.store.base import Store
from aiplane.store.sql import SqlStore
from aiplane.store.sql import idempotency as sql_idempotency
from aiplane.wire.jobs import KEY_IN_FLIGHT

from . import factories as f

FRESH = f.T0 - TTL_S  # the cutoff a claim at T0 passes: records from before it are expired


def record(
    n: int, *, key: str = "k-1", principal: str = "p-alice", at: float = f.T0
) -> IdempotencyRecord:
    return IdempotencyRecord(principal, key, f"{n:064x}", f.job_id(n), at)


def test_a_claim_stores_the_record_with_every_field(store: Store) -> None:
    mine = record(1)
    assert store.idempotency.claim(mine, expired_before=FRESH) == mine
    assert store.idempotency.get("p-alice", "k-1") == mine
    assert store.idempotency.get("p-alice", "k-2") is None


def test_a_held_key_answers_with_its_holder_and_keeps_it(store: Store) -> None:
    first = record(1)
    store.idempotency.claim(first, expired_before=FRESH)

    assert store.idempotency.claim(record(2, at=f.T0 + 5), expired_before=FRESH + 5) == first
    assert store.idempotency.get("p-alice", "k-1") == first


def test_keys_are_per_principal_and_case_sensitive(store: Store) -> None:
    alice, bob, upper = record(1), record(2, principal="p-bob"), record(3, key="K-1")
    for r in (alice, bob, upper):
        assert store.idempotency.claim(r, expired_before=FRESH) == r
    assert store.idempotency.get("p-bob", "k-1") == bob
    assert store.idempotency.get("p-alice", "K-1") == upper


def test_an_expired_holder_gives_way_to_a_new_claim(store: Store) -> None:
    old = record(1, at=f.T0 - TTL_S - 1)
    store.idempotency.claim(old, expired_before=old.created_at - TTL_S)

    new = record(2)
    assert store.idempotency.claim(new, expired_before=FRESH) == new
    assert store.idempotency.get("p-alice", "k-1") == new


def test_purge_deletes_what_was_created_before_the_cutoff(store: Store) -> None:
    old = [record(n, key=f"old-{n}", at=f.T0 - TTL_S - n) for n in range(1, 4)]
    kept = record(9, key="new", at=FRESH)
    for r in (*old, kept):
        store.idempotency.claim(r, expired_before=r.created_at - TTL_S)

    assert store.idempotency.purge(FRESH) == 3
    assert [store.idempotency.get("p-alice", r.key) for r in old] == [None] * 3
    assert store.idempotency.get("p-alice", "new") == kept
    assert store.idempotency.purge(FRESH) == 0


def _submit_and_die(store: Store, n: int) -> None:
    job, run = f.job_and_run(n)
    with store.unit_of_work() as uow:
        uow.idempotency.claim(record(n), expired_before=FRESH)
        uow.jobs.add(job, run)
        raise RuntimeError("the process dies before the unit ends")


def test_a_claim_is_rolled_back_with_the_unit_that_made_it(store: Store) -> None:
    with pytest.raises(RuntimeError):
        _submit_and_die(store, 1)

    assert store.idempotency.get("p-alice", "k-1") is None
    assert store.jobs.page(limit=10) == []


class _LostError(Exception):
    pass


def _race(store: Store, key: str, contenders: list[int]) -> list[str | BaseException]:
    """Each contender at once, in a unit of its own: claim ``key``, add its job, and give up
    (rolling the job back) when the claim answered with another's record."""
    barrier = threading.Barrier(len(contenders))
    outcomes: list[str | BaseException] = []

    def submit(m: int) -> None:
        job, run = f.job_and_run(m)
        mine = record(m, key=key)
        barrier.wait()
        try:
            with store.unit_of_work() as uow:
                held = uow.idempotency.claim(mine, expired_before=FRESH)
                uow.jobs.add(job, run)
                if held != mine:
                    raise _LostError(held.job_id)
            outcomes.append(job.id)
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            outcomes.append(exc)

    threads = [threading.Thread(target=submit, args=(m,)) for m in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_racing_claims_of_one_key_store_one_job(store: Store) -> None:
    """Two submissions with one key, each claiming it and adding its job in a unit of its
    own, at once: one unit commits, the other sees the winner and rolls its job back."""
    rounds = 6
    for n in range(rounds):
        key = f"race-{n}"
        contenders = [100 * n + 1, 100 * n + 2]

        outcomes = _race(store, key, contenders)

        won = [o for o in outcomes if isinstance(o, str)]
        lost = [o for o in outcomes if not isinstance(o, str)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert isinstance(lost[0], _LostError) and str(lost[0]) == won[0], outcomes
        winner = next(m for m in contenders if f.job_id(m) == won[0])
        assert store.idempotency.get("p-alice", key) == record(winner, key=key)
    # One job per round: each loser's was rolled back with its unit.
    assert len(store.jobs.page(limit=100)) == rounds


def test_a_holder_gone_between_insert_and_read_is_a_key_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's insert met a holder that the read after it no longer finds (purged or
    rolled back in between): the answer is the 409 the client retries, not a plain conflict
    it raises at once. The window is two statements wide, so the insert is made to lose."""
    store = SqlStore.open(f"sqlite:///{tmp_path / 'aiplane.db'}")
    try:
        monkeypatch.setattr(sql_idempotency, "insert_new", lambda *_: False)
        with pytest.raises(KeyInFlightError) as caught:
            store.idempotency.claim(record(1), expired_before=FRESH)
    finally:
        store.close()
    assert caught.value.code == KEY_IN_FLIGHT
    assert "'k-1' changed concurrently" in str(caught.value)
