"""The identity and audit contract (memory, SQLite, PostgreSQL): principals with their team
memberships, tokens, and the hash-chained audit log with its head."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.audit import GENESIS, AuditEntry, AuditHead, verify_chain
from aiplane.core.auth import GlobalRole, PrincipalKind, TeamRole
from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.store.base import Store

from . import factories as f
from .conftest import Member


class HalfWayError(Exception):
    pass


def _any_signature(_entry: AuditEntry) -> bool:
    return True  # the store does not sign; the chain's hashes and links are what it keeps


# principals


def test_a_principal_round_trips_with_every_field_and_its_memberships(store: Store) -> None:
    full = f.principal(1)
    bare = f.principal(
        2, kind=PrincipalKind.SERVICE, global_role=None, teams={}, email=None, subject=None
    )
    assert store.principals.count() == 0

    store.principals.add(full)
    store.principals.add(bare)

    assert store.principals.count() == 2
    assert store.principals.get(full.id) == full
    assert store.principals.get(bare.id) == bare
    assert store.principals.by_name("user-1") == full
    assert store.principals.by_subject("https://idp.example.org sub-1") == full
    assert store.principals.by_email("user.1@EXAMPLE.org") == full  # case-insensitive
    assert store.principals.by_name("nobody") is None
    assert store.principals.by_subject("https://idp.example.org sub-9") is None
    assert store.principals.by_email("nobody@example.org") is None
    with pytest.raises(NotFoundError):
        store.principals.get("p-missing")


def test_principals_list_by_name_and_members_of_a_team(store: Store) -> None:
    carol = f.principal(1, name="carol", teams={"research": TeamRole.MEMBER})
    alice = f.principal(2, name="alice", teams={"research": TeamRole.OWNER, "vis": TeamRole.VIEWER})
    bob = f.principal(3, name="bob", teams={"vis": TeamRole.APPROVER})
    for p in (carol, alice, bob):
        store.principals.add(p)

    assert [p.name for p in store.principals.listing()] == ["alice", "bob", "carol"]
    assert store.principals.members("research") == [alice, carol]
    assert store.principals.members("vis") == [alice, bob]
    assert store.principals.members("nobody") == []


@pytest.mark.parametrize(
    ("changes", "taken"),
    [
        ({"id": "p0001", "name": "other"}, "p0001"),
        ({"name": "user-1"}, "name"),
        ({"email": "USER.1@example.ORG"}, "e-mail"),
        ({"subject": "https://idp.example.org sub-1"}, "subject"),
    ],
    ids=["id", "name", "email", "subject"],
)
def test_a_taken_id_name_email_or_subject_conflicts_and_stores_nothing(
    store: Store, changes: dict[str, Any], taken: str
) -> None:
    first = f.principal(1)
    store.principals.add(first)

    with pytest.raises(ConflictError, match=taken):
        store.principals.add(f.principal(2, **changes))

    assert store.principals.listing() == [first]


def test_principals_without_email_or_subject_do_not_conflict(store: Store) -> None:
    for n in (1, 2, 3):
        store.principals.add(f.principal(n, email=None, subject=None))
    assert store.principals.count() == 3


def test_update_replaces_the_principal_and_its_memberships(store: Store) -> None:
    original = f.principal(1, teams={"research": TeamRole.OWNER, "vis": TeamRole.VIEWER})
    store.principals.add(original)
    store.principals.add(f.principal(2, teams={"research": TeamRole.MEMBER}))
    changed = replace(
        original,
        name="renamed",
        global_role=None,
        email="New@Example.org",
        subject=None,
        disabled=False,
        teams={"vis": TeamRole.APPROVER, "audio": TeamRole.MEMBER},
    )

    store.principals.update(changed)

    assert store.principals.get(original.id) == changed
    assert store.principals.by_name("user-1") is None
    assert store.principals.by_email("user.1@example.org") is None
    assert store.principals.by_email("new@example.org") == changed
    assert [p.name for p in store.principals.members("research")] == ["user-2"]
    assert [p.name for p in store.principals.members("audio")] == ["renamed"]
    store.principals.update(replace(changed, teams={}))  # keeping its own name is no conflict
    assert store.principals.get(original.id).teams == {}
    assert store.principals.members("vis") == []


def test_update_to_anothers_name_email_or_subject_conflicts_and_changes_nothing(
    store: Store,
) -> None:
    first, second = f.principal(1), f.principal(2)
    store.principals.add(first)
    store.principals.add(second)

    changes: dict[str, Any]
    for changes in (
        {"name": first.name},
        {"email": "USER.1@example.org"},
        {"subject": first.subject},
    ):
        moved = replace(second, teams={"audio": TeamRole.OWNER}, **changes)
        with pytest.raises(ConflictError, match="belongs to another principal"):
            store.principals.update(moved)

    assert store.principals.listing() == [first, second]
    with pytest.raises(NotFoundError):
        store.principals.update(f.principal(9))


def test_a_unit_goes_on_after_a_principal_conflict_it_handles(store: Store) -> None:
    """On PostgreSQL a failed statement would abort the unit: conflicts must not be one."""
    store.principals.add(f.principal(1))

    with store.unit_of_work() as uow:
        with pytest.raises(ConflictError):
            uow.principals.add(f.principal(2, name="user-1"))
        uow.principals.add(f.principal(3))
        with pytest.raises(ConflictError):
            uow.principals.update(f.principal(3, name="user-1"))
        uow.principals.update(replace(f.principal(1), global_role=GlobalRole.ADMIN))

    assert [p.name for p in store.principals.listing()] == ["user-1", "user-3"]
    assert store.principals.get("p0001").global_role is GlobalRole.ADMIN


# tokens


def test_tokens_round_trip_and_are_found_by_id_and_hash(store: Store) -> None:
    scoped = f.token(1)
    plain = f.token(2, expires_at=None, scope=None, prefix="", revoked_at=f.T0 + 7)
    assert store.tokens.count() == 0

    store.tokens.add(scoped)
    store.tokens.add(plain)

    assert store.tokens.count() == 2
    assert store.tokens.by_hash(scoped.token_hash) == scoped
    assert store.tokens.by_hash(plain.token_hash) == plain
    assert store.tokens.by_hash("0" * 64) is None
    assert store.tokens.get(scoped.id) == scoped
    with pytest.raises(NotFoundError):
        store.tokens.get("tok-missing")


@pytest.mark.parametrize(
    "duplicate",
    [{"id": "another"}, {"token_hash": "f" * 64}],
    ids=["same-hash", "same-id"],
)
def test_a_token_id_or_hash_is_stored_once(store: Store, duplicate: dict[str, Any]) -> None:
    store.tokens.add(f.token(1))
    with pytest.raises(ConflictError):
        store.tokens.add(replace(f.token(1), **duplicate))
    assert store.tokens.listing() == [f.token(1)]


def test_tokens_list_newest_first_per_principal_revoked_ones_included(store: Store) -> None:
    mine = [f.token(n, principal_id="p0001") for n in (1, 3)]
    theirs = f.token(2, principal_id="p0002", revoked_at=f.T0 + 5)
    # Two of one creation time: the later id first, the same order on every member.
    tied = f.token(4, principal_id="p0001", created_at=mine[1].created_at)
    for token in (*mine, theirs, tied):
        store.tokens.add(token)

    assert store.tokens.listing("p0001") == [tied, mine[1], mine[0]]
    assert store.tokens.listing("p0002") == [theirs]
    assert store.tokens.listing("p-nobody") == []
    assert store.tokens.listing() == [tied, mine[1], theirs, mine[0]]


def test_revoking_is_idempotent_and_keeps_the_first_time(store: Store) -> None:
    store.tokens.add(f.token(1))
    store.tokens.add(f.token(2))

    revoked = store.tokens.revoke(f.token(1).id, f.T0 + 10)
    again = store.tokens.revoke(f.token(1).id, f.T0 + 20)

    assert revoked == replace(f.token(1), revoked_at=f.T0 + 10)
    assert again == revoked
    assert store.tokens.by_hash(f.token(1).token_hash) == revoked
    assert store.tokens.get(f.token(2).id).revoked_at is None
    assert store.tokens.count() == 2
    with pytest.raises(NotFoundError):
        store.tokens.revoke("tok-missing", f.T0)


# audit


def test_appends_chain_from_genesis_and_move_the_head(store: Store) -> None:
    assert store.audit.head() is None
    assert store.audit.entries() == []
    seen: list[tuple[int, str]] = []

    entries = [store.audit.append(f.sealer(f.audit_record(n), seen)) for n in range(1, 4)]

    assert seen == [(1, GENESIS), (2, entries[0].hash), (3, entries[1].hash)]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert store.audit.entries() == entries  # as stored, every field
    assert store.audit.head() == AuditHead(3, entries[2].hash)
    check = verify_chain(store.audit.entries(), _any_signature, store.audit.head())
    assert check.ok, check


def test_entries_page_by_sequence(store: Store) -> None:
    entries = [store.audit.append(f.sealer(f.audit_record(n))) for n in range(1, 8)]

    assert store.audit.entries(limit=3) == entries[:3]
    assert store.audit.entries(after_seq=3, limit=3) == entries[3:6]
    assert store.audit.entries(after_seq=6) == entries[6:]
    assert store.audit.entries(after_seq=7) == []
    assert store.audit.entries(limit=0) == []


def test_search_filters_and_keeps_the_newest_oldest_first(store: Store) -> None:
    records = [
        f.audit_record(1, actor="alice", resource="job/j1"),
        f.audit_record(2, actor="bob", resource="job/j2"),
        f.audit_record(3, actor="alice", resource="team/research"),
        f.audit_record(4, actor="alice", resource="jobs"),  # not under "job/"
        f.audit_record(5, actor="bob", resource="JOB/j5"),  # nor this: resources are exact
        f.audit_record(6, actor="alice", resource="job/j1"),
        f.audit_record(7, actor="carol", resource="job_x/1"),  # "_" is no wildcard
    ]
    e = [store.audit.append(f.sealer(r)) for r in records]

    def seqs(**filters: object) -> list[int]:
        return [entry.seq for entry in store.audit.search(**filters)]  # type: ignore[arg-type]

    assert store.audit.search() == e
    assert seqs(actor="alice") == [1, 3, 4, 6]
    assert seqs(resource="job/") == [1, 2, 6]
    assert seqs(resource="job/j1") == [1, 6]
    assert seqs(resource="job") == []
    assert seqs(resource="job_") == []
    assert seqs(since=f.T0 + 3) == [3, 4, 5, 6, 7]
    assert seqs(since=f.T0 + 2, actor="alice", resource="job/") == [6]
    assert seqs(limit=2) == [6, 7]
    assert seqs(actor="alice", limit=3) == [3, 4, 6]
    assert seqs(limit=0) == []
    assert seqs(actor="nobody") == []


@pytest.mark.parametrize("seeded", [0, 2], ids=["empty", "non-empty"])
def test_a_unit_that_appended_and_failed_leaves_no_entry_and_the_head_as_it_was(
    member: Member, seeded: int
) -> None:
    store = member.open()
    for n in range(seeded):
        store.audit.append(f.sealer(f.audit_record(n)))
    before = (store.audit.entries(), store.audit.head())

    def fail_half_way() -> None:
        with store.unit_of_work() as uow:
            uow.audit.append(f.sealer(f.audit_record(10)))
            uow.audit.append(f.sealer(f.audit_record(11)))
            assert [x.seq for x in uow.audit.entries()][-2:] == [seeded + 1, seeded + 2]
            raise HalfWayError

    with pytest.raises(HalfWayError):
        fail_half_way()

    assert (store.audit.entries(), store.audit.head()) == before
    if member.durable:
        reopened = member.open()
        assert (reopened.audit.entries(), reopened.audit.head()) == before
    # The next append takes the sequence number the failed unit had taken.
    assert store.audit.append(f.sealer(f.audit_record(12))).seq == seeded + 1


def test_concurrent_appends_never_share_a_seq_nor_break_the_chain(member: Member) -> None:
    """Four threads, fifty appends each: half on the store's own calls, half in units of
    work, and on a durable member half of the threads through a store of their own (another
    connection pool, as another replica would have)."""
    stores = [member.open(), member.open() if member.durable else None]
    threads_n, per_thread = 4, 50
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        store = stores[worker % 2] or stores[0]
        assert store is not None
        barrier.wait()
        try:
            for i in range(per_thread):
                seal = f.sealer(f.audit_record(worker * 1000 + i, actor=f"worker-{worker}"))
                if i % 2:
                    store.audit.append(seal)
                else:
                    with store.unit_of_work() as uow:
                        uow.audit.append(seal)
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    store = stores[0]
    assert store is not None
    entries = store.audit.entries()
    total = threads_n * per_thread
    assert [e.seq for e in entries] == list(range(1, total + 1))
    check = verify_chain(entries, _any_signature, store.audit.head())
    assert check.ok, check
    assert store.audit.head() == AuditHead(total, entries[-1].hash)
    for worker in range(threads_n):
        assert len(store.audit.search(actor=f"worker-{worker}", limit=1000)) == per_thread


# durability


def test_principals_tokens_and_the_log_survive_reopening(member: Member) -> None:
    if not member.durable:
        pytest.skip(f"the {member.name} store keeps nothing after close")
    first = member.open()
    first.principals.add(f.principal(1))
    first.tokens.add(f.token(1))
    entries = [first.audit.append(f.sealer(f.audit_record(n))) for n in (1, 2)]
    first.close()

    reopened = member.open()

    assert reopened.principals.listing() == [f.principal(1)]
    assert reopened.tokens.listing() == [f.token(1)]
    assert reopened.audit.entries() == entries
    assert reopened.audit.head() == AuditHead(2, entries[1].hash)
    assert reopened.audit.append(f.sealer(f.audit_record(3))).prev_hash == entries[1].hash
