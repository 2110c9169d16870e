"""Idempotency keys of submissions, pure: what a key may be, the fingerprint of a request, the
record kept per key, and how long it is kept (decision 0034).

A client sends ``Idempotency-Key`` with a submission so that a retry after a broken connection
cannot queue the work twice (the IETF httpapi draft "The Idempotency-Key HTTP Header Field",
and Stripe's behaviour). A key belongs to the principal that sent it: another caller's same
key is another key. The record ties the key to the job it created and to the fingerprint of
the request that created it, so a reuse of the key for a different request is told apart from
a retry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiplane.core.errors import ConflictError, Problem, SpecError

HEADER = "Idempotency-Key"
LOCATION = f"header.{HEADER}"
MAX_LENGTH = 255
# How long a key is remembered: a retry within this time replays, after it the key may be
# purged and then starts afresh (Stripe keeps keys 24 hours).
TTL_S = 24 * 3600.0
ALLOWED = f"1 to {MAX_LENGTH} printable ASCII characters (a fresh UUID per request is usual)"


class KeyInFlightError(ConflictError):
    """A request with this key is still being processed (409): retry once it has ended."""

    code = "idempotency_key_in_flight"


@dataclass(frozen=True)
class RequestKey:
    """A request's key and the fingerprint of its body, as the edge read them."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class IdempotencyRecord:
    """A key that created a job: kept ``TTL_S`` from ``created_at``."""

    principal_id: str
    key: str
    fingerprint: str
    job_id: str
    created_at: float

    def expired(self, now: float) -> bool:
        """Past its time: older than ``TTL_S`` (a claim at ``now`` may then replace it)."""
        return now - self.created_at > TTL_S


def parse_key(raw: str) -> str:
    """The key in a header value, or a SpecError saying what a key may be.

    The draft writes the value as a structured-field string (``"8e03..."``); a bare value, as
    Stripe takes it, is accepted too, and both spell the same key."""
    value = raw.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    shown = repr(value[:40] + ("..." if len(value) > 40 else ""))
    if not value:
        problem = Problem(LOCATION, "empty", repr(raw), ALLOWED)
    elif len(value) > MAX_LENGTH:
        problem = Problem(LOCATION, f"{len(value)} characters long", shown, ALLOWED)
    elif not all(" " <= ch <= "~" for ch in value):
        problem = Problem(LOCATION, "holds a character that is not printable ASCII", shown, ALLOWED)
    else:
        return value
    raise SpecError(f"invalid {HEADER} header", [problem])


def fingerprint(body: Mapping[str, Any]) -> str:
    """sha256 over the body's canonical JSON (sorted keys, no spaces): the same document sent
    again, in any key order, has the same fingerprint."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def mismatch(record: IdempotencyRecord) -> SpecError:
    """The refusal of a key reused for a request other than the one that created its job."""
    return SpecError(
        f"the {HEADER} was used already for a different request (it created job "
        f"{record.job_id}); send a new key for a new request",
        [
            Problem(
                LOCATION,
                "already used with a different request body",
                repr(record.key),
                "the body of the first request with this key, or a new key",
            )
        ],
    )
