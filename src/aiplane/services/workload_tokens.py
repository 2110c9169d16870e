"""A workload's own API token: issued for each attempt at launch, revoked when it ends.

The token belongs to the job's submitter, is scoped to the job and its team
(``TokenScope``: the policy lets it act on that job only, never beyond what its principal may)
and expires after ``WORKLOAD_TOKEN_TTL_S`` at most. The executor revokes it in the unit of work
that ends the attempt; attempts ended elsewhere (a cancellation, a preemption) are caught by
``sweep`` on the next reconciler pass. Tokens still live are tracked here, and found again in
the store after a restart (``adopt``), so a sweep is one read of the live runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from aiplane.core.auth import Action, TokenScope
from aiplane.core.runs import Job, Run, RunState
from aiplane.services.audit import AuditLog
from aiplane.services.identity import WORKLOAD_TOKEN_TTL_S, IdentityService
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
        self._live: dict[tuple[str, int], str] = {}  # (job id, attempt) -> token id

    def issue(self, job: Job, run: Run) -> dict[str, str]:
        """``AIPLANE_URL`` and ``AIPLANE_TOKEN`` for ``run``'s attempt; {} when the API's URL
        is not known (no server) or the submitter is no principal (a job from before
        identities)."""
        url = self._api_url()
        principal = self._store.principals.by_name(job.submitted_by)
        if url is None or principal is None or principal.disabled:
            return {}
        key = (job.id, run.attempt)
        with self._lock:
            stale = self._live.pop(key, None)
        if stale is not None:
            # Launched again (recovery): the earlier token of this attempt goes.
            self._revoke_ids([stale])
        record, plaintext = self._identity.issue_token(
            None,
            principal,
            token_name(job.id, run.attempt),
            expires_in_s=self._ttl_s,
            scope=TokenScope(job.workload.team, job.id),
        )
        with self._lock:
            self._live[key] = record.id
        return {"AIPLANE_URL": url, "AIPLANE_TOKEN": plaintext}

    def revoke(self, repos: Repositories, run: Run, now: float) -> bool:
        """Revoke ``run``'s attempt's token through ``repos`` (the unit of work that ends the
        attempt); False when it had none. Call ``committed`` once the unit commits: until then
        the token stays tracked, so a unit rolled back leaves it to the next sweep."""
        with self._lock:
            token_id = self._live.get((run.job_id, run.attempt))
        if token_id is None:
            return False
        self._revoke(repos, [token_id], now)
        return True

    def committed(self, run: Run) -> None:
        """``revoke``'s unit of work committed: stop tracking the token, drop cached
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
            tracked = dict(self._live)
        live = {(r.job_id, r.attempt) for r in self._store.jobs.runs_in_states(LIVE_STATES)}
        ended = [key for key in tracked if key not in live]
        if not ended:
            return 0
        self._revoke_ids([tracked[key] for key in ended])
        with self._lock:
            for key in ended:
                if self._live.get(key) == tracked[key]:
                    del self._live[key]
        return len(ended)

    def adopt(self) -> int:
        """After a restart: track the workload tokens the store holds unrevoked and unexpired."""
        now = self._clock()
        found: dict[tuple[str, int], str] = {}
        for record in self._store.tokens.listing():
            key = _parse_name(record.name)
            if key is None or record.scope is None or record.unusable_reason(now) is not None:
                continue
            found[key] = record.id
        with self._lock:
            self._live.update(found)
        return len(found)

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
