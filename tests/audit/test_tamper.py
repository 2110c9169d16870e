"""Tampering with the stored rows, with SQL, on SQLite and PostgreSQL: ``verify`` names the
first bad entry for every kind (edit, delete, reorder, insert, truncate) and passes an intact
log.

The log is filled through the services with the control plane's real Ed25519 key; the
attacker then has the database (any statement) but not the key. PostgreSQL runs when
``AIPLANE_TEST_POSTGRES_URL`` names a server: each test gets a database of its own there,
dropped at the end of the session, so the shared server is not disturbed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import OperationalError

from aiplane.core.audit import AuditHead, AuditRecord, Verification, chain_hash
from aiplane.core.auth import Caller
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.store.sql import SqlStore, normalise_url
from aiplane.store.sql.tables import AuditHeadRow, AuditLogRow, table_of
from aiplane.wiring import ControlPlane
from tests.audit.conftest import control_plane
from tests.audit.filling import fill
from tests.store.conftest import POSTGRES_ENV, PostgresServer

LOG = table_of(AuditLogRow)
HEAD = table_of(AuditHeadRow)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    raw = os.environ.get(POSTGRES_ENV)
    if not raw:
        pytest.skip(f"{POSTGRES_ENV} is not set: the PostgreSQL tamper tests need a server")
    server = PostgresServer(normalise_url(raw))
    try:
        with server.admin.connect():
            pass
    except OperationalError as exc:
        server.admin.dispose()
        pytest.fail(f"{POSTGRES_ENV} is set but unreachable: {exc.orig}", pytrace=False)
    try:
        yield server
    finally:
        server.drop_all()


class Tampered:
    """A filled log in a SQL database, and the attacker's hands on its rows."""

    def __init__(self, cp: ControlPlane, store: SqlStore) -> None:
        self.cp = cp
        self.engine: Engine = store.engine
        self.admin: Caller = fill(cp.services)["admin"]
        head = store.audit.head()
        assert head is not None
        self.head = head  # what an operator recorded elsewhere before the attack
        self.n = head.seq

    def verify(self, expected: AuditHead | None = None) -> Verification:
        return self.cp.services.audit_service.verify_for(self.admin, expected)

    def sql(self, *statements: Any) -> None:
        with self.engine.begin() as connection:
            for statement in statements:
                connection.execute(statement)

    def row(self, seq: int) -> dict[str, Any]:
        with self.engine.connect() as connection:
            found = connection.execute(select(LOG).where(LOG.c.seq == seq)).mappings().one()
        return dict(found)

    def forged(self, seq: int, prev_hash: str, signer: Ed25519Signer) -> dict[str, Any]:
        """A row sealed right (seq, link, hash) but signed by ``signer``, claiming the control
        plane's key id."""
        record = AuditRecord(1.0, "mallory", "principal.update", "principal/mallory", "ok")
        digest = chain_hash(seq, record, prev_hash)
        return {
            "seq": seq,
            "at": record.at,
            "actor": record.actor,
            "action": record.action,
            "resource": record.resource,
            "outcome": record.outcome,
            "team": None,
            "detail": "{}",  # the column holds canonical JSON text
            "prev_hash": prev_hash,
            "hash": digest,
            "key_id": self.row(1)["key_id"],
            "signature": signer.sign(bytes.fromhex(digest)).hex(),
        }


@pytest.fixture(params=["sqlite", "postgres"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tampered]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/aiplane.db"
    else:
        url = request.getfixturevalue("postgres").create_database()
    store = SqlStore.open(url)
    try:
        yield Tampered(control_plane(tmp_path / "home", store), store)
    finally:
        store.close()


def bad(result: Verification) -> tuple[int | None, str | None]:
    assert not result.ok, result
    return result.first_bad, result.problem


def test_an_intact_log_passes(log: Tampered) -> None:
    result = log.verify(log.head)
    assert result.ok and result.checked == log.n and result.head == log.head
    assert log.n >= 12


def test_an_edited_actor_is_named(log: Tampered) -> None:
    log.sql(update(LOG).where(LOG.c.seq == 5).values(actor="mallory"))
    assert bad(log.verify()) == (5, "its content does not match its hash")


def test_an_edited_detail_is_named(log: Tampered) -> None:
    detail = json.loads(log.row(6)["detail"])
    edited = json.dumps({**detail, "role": "admin"})
    log.sql(update(LOG).where(LOG.c.seq == 6).values(detail=edited))
    assert bad(log.verify()) == (6, "its content does not match its hash")


def test_an_edit_rehashed_without_the_key_is_named(log: Tampered) -> None:
    row = log.row(4)
    record = AuditRecord(
        row["at"],
        "mallory",
        row["action"],
        row["resource"],
        row["outcome"],
        row["team"],
        json.loads(row["detail"]),
    )
    rehashed = chain_hash(4, record, row["prev_hash"])
    log.sql(update(LOG).where(LOG.c.seq == 4).values(actor="mallory", hash=rehashed))
    assert bad(log.verify()) == (4, "its signature is not the control plane's")


def test_a_deleted_middle_entry_is_named(log: Tampered) -> None:
    log.sql(delete(LOG).where(LOG.c.seq == 4))
    assert bad(log.verify()) == (4, "entry 4 is missing or reordered")


def test_swapped_entries_are_named(log: Tampered) -> None:
    """Two rows trade their seq (through a free number: seq is the primary key)."""
    log.sql(
        update(LOG).where(LOG.c.seq == 3).values(seq=-3),
        update(LOG).where(LOG.c.seq == 4).values(seq=3),
        update(LOG).where(LOG.c.seq == -3).values(seq=4),
    )
    assert bad(log.verify()) == (3, "its link to the previous entry is broken")


def test_a_forged_entry_appended_with_another_key_is_named(log: Tampered) -> None:
    forged = log.forged(log.n + 1, log.head.hash, Ed25519Signer.generate())
    # The attacker moves the head too: the signature still gives the forgery away.
    log.sql(
        insert(LOG).values(**forged),
        update(HEAD).values(seq=forged["seq"], hash=forged["hash"]),
    )
    assert bad(log.verify()) == (log.n + 1, "its signature is not the control plane's")


def test_a_forged_entry_appended_without_moving_the_head_is_named(log: Tampered) -> None:
    log.sql(insert(LOG).values(**log.forged(log.n + 1, log.head.hash, Ed25519Signer.generate())))
    assert bad(log.verify())[0] == log.n + 1


def test_a_forged_entry_inserted_by_renumbering_is_named(log: Tampered) -> None:
    """Entries 3.. moved up one (from the top: seq is unique), a forgery put at 3, the head
    moved to the new last entry."""
    for seq in range(log.n, 2, -1):
        log.sql(update(LOG).where(LOG.c.seq == seq).values(seq=seq + 1))
    forged = log.forged(3, log.row(2)["hash"], Ed25519Signer.generate())
    log.sql(insert(LOG).values(**forged), update(HEAD).values(seq=log.n + 1))
    assert bad(log.verify()) == (3, "its signature is not the control plane's")


def test_a_genuine_entry_replayed_by_renumbering_is_named(log: Tampered) -> None:
    """A copy of a real, signed entry (2) inserted as 3: signed, but it links to entry 1."""
    for seq in range(log.n, 2, -1):
        log.sql(update(LOG).where(LOG.c.seq == seq).values(seq=seq + 1))
    log.sql(insert(LOG).values(**{**log.row(2), "seq": 3}), update(HEAD).values(seq=log.n + 1))
    assert bad(log.verify()) == (3, "its link to the previous entry is broken")


def test_an_edited_signature_is_named(log: Tampered) -> None:
    log.sql(update(LOG).where(LOG.c.seq == 7).values(signature="00" * 64))
    assert bad(log.verify()) == (7, "its signature is not the control plane's")


def test_a_truncated_tail_is_caught_by_the_kept_head(log: Tampered) -> None:
    log.sql(delete(LOG).where(LOG.c.seq > log.n - 3))
    first, problem = bad(log.verify())
    assert first == log.n - 2
    assert problem == f"the log ends at entry {log.n - 3}; it reached {log.n} before"


def test_a_tail_cut_with_its_head_is_caught_by_the_expected_head(log: Tampered) -> None:
    """The head rolled back with the tail: a good, shorter chain. Only the head recorded
    elsewhere earlier shows it (the limit decision 0022 names)."""
    last = log.row(log.n - 3)
    log.sql(
        delete(LOG).where(LOG.c.seq > log.n - 3),
        update(HEAD).values(seq=last["seq"], hash=last["hash"]),
    )
    assert log.verify().ok
    first, problem = bad(log.verify(log.head))
    assert first == log.n - 2
    assert problem is not None and f"reached entry {log.n}" in problem


def test_a_deleted_head_is_caught(log: Tampered) -> None:
    log.sql(delete(HEAD))
    first, problem = bad(log.verify())
    assert first == 1 and problem is not None and "(missing)" in problem


def test_everything_deleted_is_caught_by_the_expected_head(log: Tampered) -> None:
    log.sql(delete(LOG), delete(HEAD))
    assert log.verify().ok  # an empty log with no head is a new one, as far as it can tell
    assert bad(log.verify(log.head))[0] == 1


def test_the_first_bad_of_several_is_named(log: Tampered) -> None:
    log.sql(
        update(LOG).where(LOG.c.seq == 9).values(actor="mallory"),
        delete(LOG).where(LOG.c.seq == 5),
    )
    assert bad(log.verify())[0] == 5


def test_verify_while_entries_are_appended_raises_no_false_alarm(log: Tampered) -> None:
    """The kept head read before and after the entries: appends committed meanwhile (entry
    and head together) are neither a cut tail nor entries past the head."""
    done = threading.Event()
    failures: list[BaseException] = []

    def append() -> None:
        try:
            for n in range(60):
                log.cp.audit.record_now(None, "test.append", f"test/{n}", outcome="ok")
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            failures.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=append)
    writer.start()
    results: list[Verification] = []
    while not done.is_set() or not results:
        results.append(log.verify(log.head))
    writer.join()
    assert not failures
    assert all(r.ok for r in results), [r for r in results if not r.ok][:1]
    final = log.verify(log.head)
    assert final.ok and final.head is not None and final.head.seq == log.n + 60
