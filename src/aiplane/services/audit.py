"""The audit log: every mutating call and every refusal, appended to the hash chain of
``core/audit.py`` and signed with the control plane's key.

Mutations record their entry inside the unit of work that makes them (``record`` takes the
unit's repositories), so a change and its entry are committed together or not at all.
Refusals are recorded in a transaction of their own (``record_now``): nothing else is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiplane.core.audit import (
    AuditEntry,
    AuditHead,
    AuditRecord,
    Verification,
    chain_hash,
    detail_text,
    entry_dict,
    verify_chain,
)
from aiplane.core.auth import Caller
from aiplane.core.errors import Problem, SpecError
from aiplane.core.text import clean
from aiplane.signing.base import Signer
from aiplane.store.base import Repositories, Store

# The actor of a refusal before anybody was authenticated, and of what the control plane does
# itself (the first admin, workload tokens, an OIDC sign-up): two names no principal may take
# (``identity_rules.RESERVED_NAMES``), so that neither is mistaken for the other or a person.
ANONYMOUS = "anonymous"
SYSTEM = "system"
_PAGE = 1000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        return {clean(k) if isinstance(k, str) else k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value


def actor_of(caller: Caller | None, default: str = SYSTEM) -> str:
    """The caller's name; ``default`` (the control plane itself) when there is none."""
    return caller.name if caller is not None else default


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
        actor: str,
    ) -> AuditRecord:
        """The record as the store will give it back, so that what is hashed is what is
        stored: the time a float (an int clock reads back as one), the detail through a JSON
        round trip (tuples become lists, the canonical text is what SQL keeps), and every
        string escaped where the store could not keep it or a reader be misled by it."""
        extra = dict(detail or {})
        if caller is not None and caller.token_id is not None:
            extra.setdefault("token", caller.token_id)
        if caller is not None and caller.via != "token":
            extra.setdefault("via", caller.via)
        return AuditRecord(
            float(self._clock()),
            clean(actor_of(caller, actor)),
            clean(action),
            clean(resource),
            clean(outcome),
            clean(team) if team is not None else None,
            json.loads(detail_text(_cleaned(extra))),
        )

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
        actor: str = SYSTEM,
    ) -> AuditEntry | None:
        """Append an entry through ``repos`` (a unit of work's, so that it commits with the
        change it records). ``caller`` None: the control plane acts itself, logged as
        ``actor`` (``SYSTEM``; ``ANONYMOUS`` for a refusal before authentication).

        In a unit of work, make this the unit's LAST write (decision 0025): the append holds
        the log's lock until the unit ends, and a unit that then locks a row another holds
        while that one waits for the log would deadlock on PostgreSQL."""
        if self._signer is None:
            return None
        record = self._record(caller, action, resource, outcome, team, detail, actor)
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
        actor: str = ANONYMOUS,
    ) -> AuditEntry | None:
        """Append an entry in a transaction of its own (a refusal, a failed call). ``caller``
        None: nobody was authenticated (``ANONYMOUS``), unless ``actor`` says otherwise."""
        return self.record(
            self._store,
            caller,
            action,
            resource,
            outcome=outcome,
            team=team,
            detail=detail,
            actor=actor,
        )

    # -- reading ------------------------------------------------------------------------------

    def search(
        self,
        since: float | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries at or after ``since`` (epoch seconds), of ``actor``, on
        ``resource`` (exact, or a prefix ending in ``/``), oldest first."""
        problems = _search_problems(since, actor, resource, limit)
        if problems:
            raise SpecError("invalid audit search", problems)
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
        """The whole log as JSON lines, one entry each, in sequence order (the form
        ``entry_from`` reads back, so that an export can be verified away from the store)."""
        for entry in self.all_entries():
            yield json.dumps(entry_dict(entry), sort_keys=True, separators=(",", ":")) + "\n"

    def signature_ok(self, entry: AuditEntry) -> bool:
        signer = self._signer
        if signer is None:
            return True
        try:
            signature = bytes.fromhex(entry.signature)
            digest = bytes.fromhex(entry.hash)
        except ValueError:
            return False
        return signer.verify(digest, signature, entry.key_id)

    def verify(self, expected_head: AuditHead | None = None) -> Verification:
        """Check the whole chain and its signatures in one pass, that it reaches the head kept
        beside it and goes no further, and that it holds ``expected_head`` (one recorded
        elsewhere earlier) when given.

        The kept head is read before the entries (the log must reach it: a truncated tail) and
        again after them (the log must not pass it: entries added without the head). Appends
        move the head in the transaction that adds the entry, so a concurrent append can make
        neither read a false alarm."""
        before = self._store.audit.head()
        result = verify_chain(self.all_entries(), self.signature_ok, before, expected_head)
        reached = result.head.seq if result.head is not None else 0
        # A log sound as far as it goes (intact, or only short of a head) may also go past
        # the head kept beside it: of the two problems, the lower entry is named.
        short = not result.ok and result.checked == reached
        past = self._past_head(reached, self._store.audit.head())
        if not past or not (result.ok or short):
            return result
        ((seq, problem, good),) = past
        if short and result.first_bad is not None and result.first_bad <= seq:
            return result
        return Verification(False, result.checked, good, seq, problem)

    @staticmethod
    def _past_head(
        reached: int, after: AuditHead | None
    ) -> list[tuple[int, str, AuditHead | None]]:
        """The log goes past the head kept beside it, read after the entries (entries added
        without moving it, or the head row deleted). Entries between the two reads link to
        and are checked with the ones before them."""
        kept = after.seq if after is not None else 0
        if reached <= kept:
            return []
        where = f"at entry {kept}" if after is not None else "missing"
        problem = f"it is past the head kept beside the log ({where}): added without it"
        return [(kept + 1, problem, after)]


def _search_problems(
    since: float | None, actor: str | None, resource: str | None, limit: int
) -> list[Problem]:
    problems = []
    if since is not None and not math.isfinite(since):
        problems.append(Problem("since", "not a time", repr(since), "epoch seconds"))
    if actor is not None and not actor.strip():
        problems.append(Problem("actor", "empty", repr(actor), "a principal's name"))
    # Stored values are escaped (``clean``): a raw control character matches nothing, and
    # PostgreSQL cannot be asked about a NUL at all.
    if actor is not None and clean(actor) != actor:
        problems.append(
            Problem("actor", "holds a control character", repr(actor)[:80], "a principal's name")
        )
    if resource is not None and clean(resource) != resource:
        problems.append(
            Problem("resource", "holds a control character", repr(resource)[:80], "kind/id")
        )
    if resource is not None and not resource.strip():
        problems.append(
            Problem("resource", "empty", repr(resource), "kind/id, or a prefix such as job/")
        )
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        problems.append(Problem("limit", "out of range", repr(limit), f"1 to {MAX_LIMIT}"))
    return problems
