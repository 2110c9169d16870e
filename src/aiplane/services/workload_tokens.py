"""A workload's own API token: issued when an attempt's replicas start, revoked when it ends.

The token is issued lazily (``AttemptToken``): the backend asks for it only when it really
starts a replica, so a launch repeated after a restart that finds the replicas running issues
nothing and leaves them the token they hold (adopted from the store). An attempt may so hold
more than one token (replicas started before a crash keep theirs, those started after get a
new one); all of them end with the attempt.

A token belongs to the job's submitter, is scoped to the job and its team (``TokenScope``: the
policy lets it act on that job only, never beyond what its principal may) and expires after
``WORKLOAD_TOKEN_TTL_S`` at most. The executor revokes them in the unit of work that ends the
attempt; attempts ended elsewhere (a cancellation, a preemption) are caught by ``sweep`` on the
next reconciler pass. Tokens still live are tracked here, and found again in the store after a
restart (``adopt``), so a sweep is one read of the live runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from aiplane.core.auth import Action, TokenScope
from aiplane.core.runs import Job, Run, RunState
from aiplane.services.audit import AuditLog
from aiplane.services.identity import IdentityService
from aiplane.services.identity_rules import WORKLOAD_TOKEN_TTL_S
from aiplane.store.base import Repositories, Store

# The states in which an attempt may still use its token.
LIVE_STATES = frozenset({RunState.ADMITTED, RunState.STARTING, RunState.RUNNING})
NAME_PREFIX = "workload "


def token_name(job_id: str, attempt: int) -> str:
    return f"{NAME_PREFIX}{job_id} a{attempt}"


def _parse_name(name: str) -> tuple[str, int] | None:
    if not name.startswith(NAME_PREFIX):
        return None
    job_id, _, attempt = name[len(NAME_PREFIX) :].rpartition(" a")
    return (job_id, int(attempt)) if job_id and attempt.isdigit() else None


class AttemptToken:
    """One launch's token of an attempt: issued on the first call (the first replica that
    really starts), the same plaintext for every replica after it. Never called: none issued."""

    def __init__(self, issue: Callable[[], str]) -> None:
        self._issue = issue
        self._lock = threading.Lock()
        self._plaintext: str | None = None

    def __call__(self) -> str:
        with self._lock:
            if self._plaintext is None:
                self._plaintext = self._issue()
            return self._plaintext

    @property
    def issued(self) -> bool:
        return self._plaintext is not None


@dataclass(frozen=True)
class Credentials:
    """What an attempt's replicas get: ``env`` (``AIPLANE_URL``) and the token to deliver."""

    env: dict[str, str]
    token: AttemptToken


class WorkloadTokens:
    def __init__(
        self,
        store: Store,
        identity: IdentityService,
        audit: AuditLog,
        changed: Callable[[], None],
        api_url: Callable[[], str | None],
        clock: Callable[[], float],
        ttl_s: float = WORKLOAD_TOKEN_TTL_S,
    ) -> None:
        self._store = store
        self._identity = identity
        self._audit = audit
        self._changed = changed  # drops cached identities (``Access.changed``)
        self._api_url = api_url
        self._clock = clock
        self._ttl_s = min(ttl_s, WORKLOAD_TOKEN_TTL_S)
        self._lock = threading.Lock()
        # (job id, attempt) -> the ids of its live tokens
        self._live: dict[tuple[str, int], set[str]] = {}

    def credentials(self, job: Job, run: Run) -> Credentials | None:
        """``AIPLANE_URL`` and a token to be issued when a replica of ``run``'s attempt starts;
        None when the API's URL is not known (no server) or the submitter is no principal (a
        job from before identities)."""
        url = self._api_url()
        principal = self._store.principals.by_name(job.submitted_by)
        if url is None or principal is None or principal.disabled:
            return None
        key = (job.id, run.attempt)

        def issue() -> str:
            # Tokens this attempt holds already stay: the replicas started with them (before a
            # restart, say) still use them. The attempt's end revokes them all.
            record, plaintext = self._identity.issue_token(
                None,
                principal,
                token_name(job.id, run.attempt),
                expires_in_s=self._ttl_s,
                scope=TokenScope(job.workload.team, job.id),
            )
            with self._lock:
                self._live.setdefault(key, set()).add(record.id)
            return plaintext

        return Credentials({"AIPLANE_URL": url}, AttemptToken(issue))

    def revoke(self, repos: Repositories, run: Run, now: float) -> bool:
        """Revoke ``run``'s attempt's tokens through ``repos`` (the unit of work that ends the
        attempt); False when it had none. Call ``committed`` once the unit commits: until then
        the tokens stay tracked, so a unit rolled back leaves them to the next sweep."""
        with self._lock:
            token_ids = sorted(self._live.get((run.job_id, run.attempt), ()))
        if not token_ids:
            return False
        self._revoke(repos, token_ids, now)
        return True

    def committed(self, run: Run) -> None:
        """``revoke``'s unit of work committed: stop tracking the tokens, drop cached
        identities."""
        with self._lock:
            self._live.pop((run.job_id, run.attempt), None)
        self._changed()

    def sweep(self) -> int:
        """Revoke the tokens of attempts that ended (or moved on) since they were issued: one
        read of the live runs, whatever the number of tokens."""
        with self._lock:
            if not self._live:
                return 0
            tracked = {key: set(ids) for key, ids in self._live.items()}
        live = {(r.job_id, r.attempt) for r in self._store.jobs.runs_in_states(LIVE_STATES)}
        ended = [key for key in tracked if key not in live]
        if not ended:
            return 0
        self._revoke_ids(sorted(i for key in ended for i in tracked[key]))
        with self._lock:
            for key in ended:
                left = self._live.get(key, set()) - tracked[key]
                if left:
                    self._live[key] = left
                else:
                    self._live.pop(key, None)
        return len(ended)

    def adopt(self) -> int:
        """After a restart: track the workload tokens the store holds unrevoked and unexpired."""
        now = self._clock()
        found: dict[tuple[str, int], set[str]] = {}
        for record in self._store.tokens.listing():
            key = _parse_name(record.name)
            if key is None or record.scope is None or record.unusable_reason(now) is not None:
                continue
            found.setdefault(key, set()).add(record.id)
        with self._lock:
            for key, ids in found.items():
                self._live.setdefault(key, set()).update(ids)
        return sum(len(ids) for ids in found.values())

    def _revoke_ids(self, token_ids: list[str]) -> None:
        now = self._clock()
        with self._store.unit_of_work() as uow:
            self._revoke(uow, token_ids, now)
        self._changed()

    def _revoke(self, repos: Repositories, token_ids: list[str], now: float) -> None:
        # Every revocation before the first audit entry: the entries are the unit's last
        # writes (decision 0025), so its row locks are never taken while it holds the log's.
        records = [repos.tokens.revoke(token_id, now) for token_id in token_ids]
        for record in records:
            self._audit.record(
                repos,
                None,
                str(Action.TOKEN_REVOKE),
                f"token/{record.id}",
                team=record.scope.team if record.scope else None,
                detail={"name": record.name, "reason": "the workload's attempt ended"},
            )
