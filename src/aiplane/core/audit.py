"""The audit log's hash chain, pure: what an entry holds, how it is hashed, how a chain is
checked. Signing is a port (the services give a function that checks a signature), so the
core stays free of key handling.

Each entry carries its sequence number, the hash of the entry before it (``GENESIS`` for the
first) and its own hash over a canonical JSON form of everything else; the control plane signs
that hash. Editing an entry breaks its hash; deleting, reordering or inserting one breaks the
sequence or the link to the previous hash; an entry forged without the key fails its
signature; a truncated tail shows against the head (sequence and hash of the last entry) kept
beside the log, or one recorded elsewhere earlier.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """What happened: who did what to which resource, and how it ended."""

    at: float
    actor: str  # a principal's name, "system" (the control plane) or "anonymous"
    action: str  # a policy action (``job.submit``) or another verb (``auth.login``)
    resource: str  # ``job/j-...``, ``team/vision``, ``token/tok-...``
    outcome: str  # "ok", "denied", or an error code
    team: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    seq: int  # 1, 2, 3, ... without gaps
    record: AuditRecord
    prev_hash: str
    hash: str
    key_id: str
    signature: str  # hex, over ``hash``


@dataclass(frozen=True)
class AuditHead:
    """The newest entry's place in the chain: what a truncated tail is checked against."""

    seq: int
    hash: str


def record_dict(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "resource": record.resource,
        "outcome": record.outcome,
        "team": record.team,
        "detail": dict(record.detail),
    }


def record_from(data: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        at=float(data["at"]),
        actor=data["actor"],
        action=data["action"],
        resource=data["resource"],
        outcome=data["outcome"],
        team=data.get("team"),
        detail=dict(data.get("detail") or {}),
    )


def detail_text(detail: Mapping[str, Any]) -> str:
    """``detail`` as canonical JSON text (sorted keys, no spaces, no NaN): how a store that
    cannot keep Python's value types (JSONB turns 1e16 into an int) keeps it."""
    return json.dumps(dict(detail), sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical(seq: int, record: AuditRecord, prev_hash: str) -> bytes:
    """The bytes an entry's hash is taken over: sorted keys, no spaces, no NaN."""
    body = {"seq": seq, "prev": prev_hash, **record_dict(record)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def chain_hash(seq: int, record: AuditRecord, prev_hash: str) -> str:
    return hashlib.sha256(canonical(seq, record, prev_hash)).hexdigest()


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as JSON-ready data: one line of ``aiplane audit export``."""
    return {
        "seq": entry.seq,
        **record_dict(entry.record),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "key_id": entry.key_id,
        "signature": entry.signature,
    }


def entry_from(data: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(data["seq"]),
        record=record_from(data),
        prev_hash=data["prev_hash"],
        hash=data["hash"],
        key_id=data["key_id"],
        signature=data["signature"],
    )


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int  # entries read
    head: AuditHead | None  # the last good entry's place
    first_bad: int | None = None  # the sequence number of the first bad entry
    problem: str | None = None


SignatureCheck = Callable[[AuditEntry], bool]


def _bad(checked: int, head: AuditHead | None, seq: int, problem: str) -> Verification:
    return Verification(False, checked, head, first_bad=seq, problem=problem)


def verify_chain(
    entries: Iterable[AuditEntry],
    signature_ok: SignatureCheck,
    expected_head: AuditHead | None = None,
    recorded_head: AuditHead | None = None,
) -> Verification:
    """Check ``entries`` (in stored order) from the first; stop at the first bad one.

    ``expected_head`` is a head the log must reach: the one kept beside it (a log cut back
    below it fails, naming the first missing entry). ``recorded_head`` is one recorded
    elsewhere earlier: the log must hold it, and reach it."""
    heads = [h for h in (expected_head, recorded_head) if h is not None]
    prev, head, checked = GENESIS, None, 0
    for entry in entries:
        checked += 1
        expected_seq = head.seq + 1 if head is not None else 1
        if entry.seq != expected_seq:
            what = "missing or reordered" if entry.seq > expected_seq else "out of order"
            return _bad(checked, head, expected_seq, f"entry {expected_seq} is {what}")
        if entry.prev_hash != prev:
            return _bad(checked, head, entry.seq, "its link to the previous entry is broken")
        if chain_hash(entry.seq, entry.record, entry.prev_hash) != entry.hash:
            return _bad(checked, head, entry.seq, "its content does not match its hash")
        if not signature_ok(entry):
            return _bad(checked, head, entry.seq, "its signature is not the control plane's")
        if any(h.seq == entry.seq and h.hash != entry.hash for h in heads):
            return _bad(checked, head, entry.seq, "it is not the entry recorded as the head")
        prev, head = entry.hash, AuditHead(entry.seq, entry.hash)
    reached = head.seq if head is not None else 0
    if expected_head is not None and reached < expected_head.seq:
        return _bad(
            checked,
            head,
            reached + 1,
            f"the log ends at entry {reached}; it reached {expected_head.seq} before",
        )
    if recorded_head is not None and reached < recorded_head.seq:
        problem = (
            f"the log ends at entry {reached}; it had reached entry {recorded_head.seq} "
            "when the expected head was recorded"
        )
        return _bad(checked, head, reached + 1, problem)
    return Verification(True, checked, head)
