"""The audit chain, pure: every kind of tampering is caught, at the first bad entry.

Entries are sealed as the control plane seals them (SHA-256 over canonical JSON, Ed25519 over
the hash, a real key); each test then tampers with the list as an attacker with write access
to the rows (but not the key) could, and ``verify_chain`` must name the right entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.audit import (
    GENESIS,
    AuditEntry,
    AuditHead,
    AuditRecord,
    canonical,
    chain_hash,
    entry_dict,
    entry_from,
    verify_chain,
)
from aiplane.signing.ed25519 import Ed25519Signer

N = 6


def seal(signer: Ed25519Signer, seq: int, record: AuditRecord, prev: str) -> AuditEntry:
    digest = chain_hash(seq, record, prev)
    signature = signer.sign(bytes.fromhex(digest)).hex()
    return AuditEntry(seq, record, prev, digest, signer.key_id, signature)


def record(n: int) -> AuditRecord:
    return AuditRecord(
        at=1_700_000_000.0 + n,
        actor=f"user-{n % 3}",
        action="job.submit" if n % 2 else "job.cancel",
        resource=f"job/j-{n}",
        outcome="ok" if n % 4 else "denied",
        team="vision",
        detail={"n": n, "why": "because"},
    )


def build(signer: Ed25519Signer, n: int = N) -> list[AuditEntry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry = seal(signer, seq, record(seq), prev)
        entries.append(entry)
        prev = entry.hash
    return entries


def signature_check(signer: Ed25519Signer) -> Callable[[AuditEntry], bool]:
    def ok(entry: AuditEntry) -> bool:
        return signer.verify(
            bytes.fromhex(entry.hash), bytes.fromhex(entry.signature), entry.key_id
        )

    return ok


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer.generate()


@pytest.fixture
def log(signer: Ed25519Signer) -> list[AuditEntry]:
    return build(signer)


def head_of(entries: list[AuditEntry]) -> AuditHead:
    return AuditHead(entries[-1].seq, entries[-1].hash)


def test_an_intact_log_passes_and_reaches_its_head(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    result = verify_chain(log, signature_check(signer), head_of(log))
    assert result.ok and result.checked == N
    assert result.head == head_of(log)
    assert result.first_bad is None and result.problem is None


def test_an_empty_log_passes_without_a_head(signer: Ed25519Signer) -> None:
    result = verify_chain([], signature_check(signer))
    assert result.ok and result.checked == 0 and result.head is None


def test_canonical_form_is_sorted_and_compact() -> None:
    text = canonical(1, record(1), GENESIS).decode()
    assert " " not in text.replace("because", "")
    assert text.index('"action"') < text.index('"actor"') < text.index('"at"')


def test_nan_is_refused_in_the_canonical_form() -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical(1, replace(record(1), detail={"x": float("nan")}), GENESIS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "mallory"),
        ("action", "job.read"),
        ("resource", "job/j-999"),
        ("outcome", "failed"),
        ("team", "other"),
        ("at", 1.0),
        ("detail", {"n": 3, "why": "edited"}),
    ],
)
def test_an_edited_field_is_named(
    signer: Ed25519Signer, log: list[AuditEntry], field: str, value: Any
) -> None:
    edited: dict[str, Any] = {field: value}
    log[2] = replace(log[2], record=replace(log[2].record, **edited))
    result = verify_chain(log, signature_check(signer), head_of(log))
    assert not result.ok
    assert result.first_bad == 3
    assert result.problem == "its content does not match its hash"
    assert result.head == AuditHead(2, log[1].hash)


def test_an_edit_rehashed_without_the_key_fails_its_signature(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    edited = replace(log[2].record, actor="mallory")
    log[2] = replace(log[2], record=edited, hash=chain_hash(3, edited, log[2].prev_hash))
    result = verify_chain(log, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "its signature is not the control plane's")


def test_an_edit_resealed_with_another_key_fails_its_signature(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    mallory = Ed25519Signer.generate()
    forged = seal(mallory, 3, replace(log[2].record, actor="mallory"), log[2].prev_hash)
    log[2] = forged
    assert verify_chain(log, signature_check(signer)).first_bad == 3
    # Claiming the control plane's key id does not help: the signature is checked with it.
    log[2] = replace(forged, key_id=signer.key_id)
    result = verify_chain(log, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "its signature is not the control plane's")


def test_a_deleted_middle_entry_is_named(signer: Ed25519Signer, log: list[AuditEntry]) -> None:
    del log[2]
    result = verify_chain(log, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "entry 3 is missing or reordered")
    assert result.checked == 3


def test_the_first_entry_deleted_is_named(signer: Ed25519Signer, log: list[AuditEntry]) -> None:
    del log[0]
    result = verify_chain(log, signature_check(signer))
    assert result.first_bad == 1 and result.head is None


def test_swapped_positions_are_named(signer: Ed25519Signer, log: list[AuditEntry]) -> None:
    log[2], log[3] = log[3], log[2]
    result = verify_chain(log, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "entry 3 is missing or reordered")


def test_swapped_sequence_numbers_are_named(signer: Ed25519Signer, log: list[AuditEntry]) -> None:
    """What a reorder looks like in a table read by ``ORDER BY seq``: the two rows trade seq."""
    third, fourth = log[2], log[3]
    log[2], log[3] = replace(fourth, seq=3), replace(third, seq=4)
    result = verify_chain(log, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "its link to the previous entry is broken")


def test_a_forged_entry_appended_with_another_key_is_named(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    mallory = Ed25519Signer.generate()
    log.append(seal(mallory, N + 1, record(99), log[-1].hash))
    result = verify_chain(log, signature_check(signer))
    assert (result.first_bad, result.problem) == (N + 1, "its signature is not the control plane's")
    assert result.head == AuditHead(N, log[N - 1].hash)


def test_a_forged_entry_inserted_by_renumbering_is_named(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    """Insert at 3, the rest moved up one: the forgery is linked and hashed right, but not
    signed by the control plane; the moved entries no longer match their hashes either."""
    mallory = Ed25519Signer.generate()
    forged = seal(mallory, 3, record(42), log[1].hash)
    moved = [replace(e, seq=e.seq + 1) for e in log[2:]]
    tampered = [*log[:2], forged, *moved]
    result = verify_chain(tampered, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "its signature is not the control plane's")
    # A genuine, signed entry replayed as 3 does not link to entry 2.
    replayed = [*log[:2], replace(log[1], seq=3), *moved]
    result = verify_chain(replayed, signature_check(signer))
    assert (result.first_bad, result.problem) == (3, "its link to the previous entry is broken")
    # Renumbered with the forgery taken out again: a gap where it was.
    result = verify_chain([*log[:2], *moved], signature_check(signer))
    assert result.first_bad == 3


def test_a_truncated_tail_is_caught_against_the_head(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    head = head_of(log)
    result = verify_chain(log[:-2], signature_check(signer), head)
    assert not result.ok
    assert result.first_bad == N - 1
    assert result.problem == f"the log ends at entry {N - 2}; it reached {N} before"


def test_a_truncated_tail_without_a_head_passes(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    """The limit the head is for: a prefix of a good chain is a good chain."""
    assert verify_chain(log[:-2], signature_check(signer)).ok


def test_an_everything_deleted_log_is_caught_against_the_head(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    result = verify_chain([], signature_check(signer), head_of(log))
    assert (result.first_bad, result.checked) == (1, 0)


def test_a_head_that_names_another_entry_is_caught(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    """A log rebuilt from entry 4 on (same length) does not hold the recorded entry 4."""
    other = build(signer)  # same records, but let entry 4 differ
    other[3] = seal(signer, 4, record(77), other[2].hash)
    result = verify_chain(other, signature_check(signer), AuditHead(4, log[3].hash))
    assert (result.first_bad, result.problem) == (4, "it is not the entry recorded as the head")


def test_a_bad_signature_text_is_a_bad_signature(
    signer: Ed25519Signer, log: list[AuditEntry]
) -> None:
    log[1] = replace(log[1], signature="00" * 64)
    result = verify_chain(log, signature_check(signer))
    assert result.first_bad == 2


def test_an_entry_round_trips_through_its_json_form(log: list[AuditEntry]) -> None:
    assert [entry_from(entry_dict(e)) for e in log] == log
