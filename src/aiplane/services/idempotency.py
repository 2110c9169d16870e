"""Idempotency keys of submissions (decision 0034): a submission sent again with the same
``Idempotency-Key`` by the same principal answers with the job the first one created instead
of queueing the work twice.

Three places settle it. The store keeps a record per principal and key, claimed in the very
unit of work that adds the job (so a crash cannot leave a job without its key, nor a key
without its job); of two claims that race, one wins and the other is answered with the
winner's job. This process also remembers the keys it is working on right now, so a retry
that arrives while the first request is still being processed gets 409 at once (as the
draft asks) rather than waiting on the first one's checks. A key is remembered ``TTL_S``;
older records are purged now and then, and a key past its time starts afresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiplane.core.auth import Caller
from aiplane.core.errors import StoreError
from aiplane.core.idempotency import (
    HEADER,
    TTL_S,
    IdempotencyRecord,
    KeyInFlightError,
    RequestKey,
    mismatch,
)
from aiplane.store.base import Repositories, Store

log = logging.getLogger("aiplane.idempotency")

# How often a submission also purges the keys past their time.
PURGE_EVERY_S = 3600.0

# Claims a key for the job being added, inside the unit of work that adds it.
Claim = Callable[[Repositories, str, float], None]


class KeyTakenError(Exception):
    """A concurrent request with the same key won the claim: the unit of work that lost is
    rolled back, and the request is answered with the winner's job."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key {record.key!r} is held by job {record.job_id}")
        self.record = record


class Idempotency:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._working: set[tuple[str, str]] = set()
        self._purged_at: float | None = None

    @contextmanager
    def in_flight(self, caller: Caller, request: RequestKey) -> Iterator[None]:
        """Hold the caller's key while its request is processed; KeyInFlightError (a 409,
        code ``idempotency_key_in_flight``) when a request with it is being processed already."""
        slot = (caller.principal.id, request.key)
        with self._lock:
            if slot in self._working:
                raise KeyInFlightError(
                    f"a request with this {HEADER} ({request.key!r}) is still being processed; "
                    "retry it once that one has finished"
                )
            self._working.add(slot)
        try:
            yield
        finally:
            with self._lock:
                self._working.discard(slot)

    def earlier(self, caller: Caller, request: RequestKey, now: float) -> IdempotencyRecord | None:
        """The record of an earlier request with this key (None when there is none, or it is
        past its time); a SpecError (422) when that request had another body."""
        record = self._store.idempotency.get(caller.principal.id, request.key)
        if record is None or record.expired(now):
            return None
        return checked(record, request)

    def claim(self, caller: Caller, request: RequestKey) -> Claim:
        """What the submission's unit of work calls with the new job's id."""

        def claim(uow: Repositories, job_id: str, now: float) -> None:
            record = IdempotencyRecord(
                caller.principal.id, request.key, request.fingerprint, job_id, now
            )
            held = uow.idempotency.claim(record, expired_before=now - TTL_S)
            if held != record:
                raise KeyTakenError(held)

        return claim

    def purge_due(self) -> None:
        """Purge the keys past their time, at most once per ``PURGE_EVERY_S``. A failure is
        logged, not raised: the submission it follows is stored already."""
        now = self._clock()
        with self._lock:
            if self._purged_at is not None and now - self._purged_at < PURGE_EVERY_S:
                return
            self._purged_at = now
        try:
            purged = self._store.idempotency.purge(now - TTL_S)
        except StoreError as exc:
            log.warning("could not purge idempotency keys: %s", exc.message)
            return
        if purged:
            log.info("purged %d idempotency keys older than %.0f h", purged, TTL_S / 3600)


def checked(record: IdempotencyRecord, request: RequestKey) -> IdempotencyRecord:
    """``record`` when it was made by a request with this body, else the 422 refusal."""
    if record.fingerprint != request.fingerprint:
        raise mismatch(record)
    return record
