"""The audit log: every mutating call and every refusal, appended to the hash chain of
``core/audit.py`` and signed with the control plane's key.

Mutations record their entry inside the unit of work that makes them (``record`` takes the
unit's repositories), so a change and its entry are committed together or not at all.
Refusals are recorded in a transaction of their own (``record_now``): nothing else is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiplane.core.audit import (
    AuditEntry,
    AuditHead,
    AuditRecord,
    Verification,
    chain_hash,
    entry_dict,
    verify_chain,
)
from aiplane.core.auth import Caller
from aiplane.signing.base import Signer
from aiplane.store.base import Repositories, Store

ANONYMOUS = "anonymous"
_PAGE = 1000


def actor_of(caller: Caller | None) -> str:
    return caller.name if caller is not None else ANONYMOUS


class AuditLog:
    """``signer`` None turns the log off (the authorisation benchmark's baseline only: the
    control plane always builds it with its key)."""

    def __init__(self, store: Store, signer: Signer | None, clock: Callable[[], float]) -> None:
        self._store = store
        self._signer = signer
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._signer is not None

    def _seal(self, record: AuditRecord) -> Callable[[int, str], AuditEntry]:
        signer = self._signer
        assert signer is not None  # noqa: S101 (callers check ``enabled``)

        def seal(seq: int, prev_hash: str) -> AuditEntry:
            digest = chain_hash(seq, record, prev_hash)
            signature = signer.sign(bytes.fromhex(digest)).hex()
            return AuditEntry(seq, record, prev_hash, digest, signer.key_id, signature)

        return seal

    def _record(
        self,
        caller: Caller | None,
        action: str,
        resource: str,
        outcome: str,
        team: str | None,
        detail: Mapping[str, Any] | None,
    ) -> AuditRecord:
        extra = dict(detail or {})
        if caller is not None and caller.token_id is not None:
            extra.setdefault("token", caller.token_id)
        if caller is not None and caller.via != "token":
            extra.setdefault("via", caller.via)
        return AuditRecord(self._clock(), actor_of(caller), action, resource, outcome, team, extra)

    def record(
        self,
        repos: Repositories,
        caller: Caller | None,
        action: str,
        resource: str,
        *,
        outcome: str = "ok",
        team: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry | None:
        """Append an entry through ``repos`` (a unit of work's, so that it commits with the
        change it records)."""
        if self._signer is None:
            return None
        record = self._record(caller, action, resource, outcome, team, detail)
        return repos.audit.append(self._seal(record))

    def record_now(
        self,
        caller: Caller | None,
        action: str,
        resource: str,
        *,
        outcome: str,
        team: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry | None:
        """Append an entry in a transaction of its own (a refusal, a failed call)."""
        return self.record(
            self._store, caller, action, resource, outcome=outcome, team=team, detail=detail
        )

    # -- reading ------------------------------------------------------------------------------

    def search(
        self,
        since: float | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        return self._store.audit.search(since=since, actor=actor, resource=resource, limit=limit)

    def all_entries(self) -> Iterator[AuditEntry]:
        """Every entry in sequence order, read a page at a time."""
        after = 0
        while True:
            page = self._store.audit.entries(after_seq=after, limit=_PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].seq

    def export(self) -> Iterator[str]:
        """The whole log as JSON lines, one entry each, in sequence order."""
        for entry in self.all_entries():
            yield json.dumps(entry_dict(entry), sort_keys=True) + "\n"

    def verify(self, expected_head: AuditHead | None = None) -> Verification:
        """Check the whole chain, its signatures, and that it reaches the head kept beside it
        (and ``expected_head``, one recorded elsewhere, when given)."""
        signer = self._signer

        def signature_ok(entry: AuditEntry) -> bool:
            if signer is None:
                return True
            try:
                signature = bytes.fromhex(entry.signature)
                digest = bytes.fromhex(entry.hash)
            except ValueError:
                return False
            return signer.verify(digest, signature, entry.key_id)

        kept = self._store.audit.head()
        result = verify_chain(self.all_entries(), signature_ok, kept)
        if result.ok and expected_head is not None:
            return verify_chain(self.all_entries(), signature_ok, expected_head)
        return result
