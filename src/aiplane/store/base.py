"""The store: one narrow repository protocol per aggregate, and a unit of work over them.

Every member (memory, SQL on SQLite and PostgreSQL) passes ``tests/store/``.

A :class:`Store` exposes one repository per aggregate (``principals`` with their team
memberships, ``tokens``, ``audit``, ``fleets``, ``jobs`` with their runs, ``events``, ``usage``,
``alerts``, ``idempotency`` keys of submissions); on the store itself each call is a transaction
of its own. Writes that belong together go through a unit of work::

    with store.unit_of_work() as uow:
        uow.jobs.update_run(cancelled, expected_state=RunState.RUNNING)
        uow.events.add(event)
        uow.usage.add(interval)

which offers the same repositories over one transaction: committed when the block ends, rolled
back when it raises, so a failure half-way leaves nothing behind. Units of work do not nest, and
inside one only its repositories may be used (members refuse the store's own with StoreError
rather than deadlock or commit a part). Keep them short, with no backend calls inside: a unit
of work holds the memory member's lock and SQLite's write lock until it ends.

Writes that race (two loops moving the same run, or one loop writing back a run that another
changed since it read it) are settled by compare-and-set on the run's state and revision. The
store increments ``Run.revision`` on every write of the run; ``update_run`` names the state it
expects to replace and passes the run it derived from its read (so the revision of that read
travels along), and fails with ``ConflictError`` when the stored state or revision differs: a
write built on a stale read never overwrites what another writer stored in between. It
returns the run as stored, with its new revision, for a caller that writes it again.

The registry adds three, whose protocols live in ``registry_base.py``: ``models`` (models with
their versions, aliases, alias moves, approvals, policies and deployments), ``datasets`` (with
their versions and replicas) and ``artifacts`` (manifests by digest, and the teams' public
signing keys). Serving adds ``endpoints`` (with their hourly request counters). Aggregates still
to come (monitors) each add one repository protocol, one attribute of :class:`Repositories`,
and one module per member.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiplane.core.audit import AuditEntry, AuditHead
from aiplane.core.auth import Principal, TokenRecord
from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.events import Event
from aiplane.core.idempotency import IdempotencyRecord
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.serving.routes import RequestCount
from aiplane.store.registry_base import ArtifactRepository, DatasetRepository, ModelRepository


@dataclass(frozen=True)
class FleetRecord:
    version: int
    document: Mapping[str, Any]  # the resolved fleet spec, as JSON-ready data
    applied_at: float


class PrincipalRepository(Protocol):
    """Users and service accounts with their team memberships (one aggregate)."""

    def add(self, principal: Principal) -> None:
        """Raises ConflictError when the id, the name, the e-mail or the OIDC subject is
        taken."""
        ...

    def get(self, principal_id: str) -> Principal:
        """Raises NotFoundError."""
        ...

    def by_name(self, name: str) -> Principal | None: ...

    def by_subject(self, subject: str) -> Principal | None: ...

    def by_email(self, email: str) -> Principal | None:
        """Matched case-insensitively."""
        ...

    def listing(self) -> list[Principal]:
        """Every principal, by name."""
        ...

    def members(self, team: str) -> list[Principal]:
        """The principals with a role in ``team``, by name."""
        ...

    def update(self, principal: Principal) -> None:
        """Replace the stored principal with its id, memberships included. Raises NotFoundError,
        or ConflictError when the new name, e-mail or subject is another's."""
        ...

    def count(self) -> int: ...


class TokenRepository(Protocol):
    def add(self, token: TokenRecord) -> None:
        """Raises ConflictError when the id or the hash is stored already."""
        ...

    def by_hash(self, token_hash: str) -> TokenRecord | None: ...

    def get(self, token_id: str) -> TokenRecord:
        """Raises NotFoundError."""
        ...

    def listing(self, principal_id: str | None = None) -> list[TokenRecord]:
        """The tokens of one principal (or of all), newest first, revoked and expired ones
        included."""
        ...

    def revoke(self, token_id: str, at: float) -> TokenRecord:
        """Mark revoked at ``at`` (a token revoked already keeps its first time) and return it.
        Raises NotFoundError."""
        ...

    def count(self) -> int: ...


# Builds the entry for a record from its sequence number and the previous entry's hash.
Seal = Callable[[int, str], AuditEntry]


class AuditRepository(Protocol):
    """The append-only, hash-chained audit log (``core/audit.py``) and its head."""

    def append(self, seal: Seal) -> AuditEntry:
        """Append the entry ``seal(seq, prev_hash)`` makes, where ``seq`` and
        ``prev_hash`` follow the newest entry (1 and ``GENESIS`` for the first), and move the
        head to it. Appends are serialised, across processes too: two never get one ``seq``."""
        ...

    def entries(self, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Up to ``limit`` entries with ``seq > after_seq`` in sequence order, as stored:
        what ``verify`` and ``export`` page through."""
        ...

    def search(
        self,
        *,
        since: float | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries at or after ``since``, of ``actor``, on ``resource``
        (exact, or a prefix ending in ``/``: ``job/`` matches every job), oldest first."""
        ...

    def head(self) -> AuditHead | None:
        """The head kept beside the log (None before the first entry)."""
        ...


class FleetRepository(Protocol):
    """Each apply stores a new version; the newest is the fleet in force."""

    def put(self, document: Mapping[str, Any], applied_at: float) -> FleetRecord: ...

    def current(self) -> FleetRecord | None: ...

    def history(self, until: float) -> list[FleetRecord]:
        """Every version applied at or before ``until``, oldest first: which fleet was in
        force when, for costs counted over a period (decision 0030)."""
        ...


class JobRepository(Protocol):
    """Jobs with their runs: one aggregate. A job has exactly one run; a retry moves the same
    run back to pending with ``attempt`` increased (see ``Run.transition``)."""

    def add(self, job: Job, run: Run) -> None:
        """Store a job and its first run together (the run at its revision as given, 0 for a
        new one). Raises ConflictError on a duplicate id."""
        ...

    def get(self, job_id: str) -> Job:
        """Raises NotFoundError."""
        ...

    def get_run(self, run_id: str) -> Run:
        """Raises NotFoundError."""
        ...

    def run_for_job(self, job_id: str) -> Run:
        """The job's current run. Raises NotFoundError."""
        ...

    def page(
        self,
        *,
        limit: int,
        before: str | None = None,
        states: Collection[RunState] | None = None,
        team: str | None = None,
        teams: Collection[str] | None = None,
    ) -> list[tuple[Job, Run]]:
        """Newest first (job ids sort by submission time); ``before`` is an exclusive job-id
        cursor for the next page. ``states`` filters on the run's state (an empty collection
        matches nothing); ``team`` on the workload's team, and ``teams`` (the caller's, for a
        scoped listing; an empty collection matches nothing) to any of those."""
        ...

    def runs_in_states(self, states: Collection[RunState]) -> list[Run]:
        """Oldest job first (by job id)."""
        ...

    def runs_updated_since(self, since: float, *, limit: int) -> list[tuple[Job, Run]]:
        """Runs (with their jobs) whose ``updated_at`` is at or after ``since``, oldest update
        first (ties by run id), at most ``limit``: the scheduler's incremental snapshot."""
        ...

    def update_run(self, run: Run, expected_state: RunState) -> Run:
        """Replace the stored run if its state is still ``expected_state`` and its revision
        still ``run.revision``, else ConflictError (NotFoundError for an unknown run).

        Returns the run as stored: ``run`` with its revision incremented."""
        ...


class EventRepository(Protocol):
    def add(self, event: Event) -> Event:
        """Append; returns the event with its ``id`` set."""
        ...

    def recent(self, *, job_id: str | None = None, limit: int = 100) -> list[Event]:
        """The newest ``limit`` events (of one job, or of all), returned oldest first."""
        ...


class UsageRepository(Protocol):
    """One interval per attempt of a run that held capacity (see core/cost/usage.py)."""

    def add(self, interval: UsageInterval) -> bool:
        """Record an interval; False, storing nothing, when the run's attempt already has one
        (recording is idempotent, so two paths that end the same attempt cannot bill it twice)."""
        ...

    def overlapping(
        self, start: float, end: float, *, team: str | None = None
    ) -> list[UsageInterval]:
        """Intervals that overlap [start, end) (``start < end`` and ``end > start``), or that
        are empty and lie at ``start`` or inside; ordered by start, run id and attempt."""
        ...


class AlertRepository(Protocol):
    """Cost alerts: at most one per key (budget, rule, period)."""

    def add(self, alert: CostAlert) -> bool:
        """Store a new alert; False, storing nothing, when one with its key exists."""
        ...

    def recent(
        self, *, statuses: Collection[AlertStatus] | None = None, limit: int = 100
    ) -> list[CostAlert]:
        """The newest ``limit`` alerts (of the given statuses), oldest first."""
        ...

    def update(self, alert: CostAlert) -> None:
        """Replace the alert with its key. Raises NotFoundError."""
        ...


class IdempotencyRepository(Protocol):
    """Idempotency keys of submissions, one per principal and key (decision 0034). A key is
    claimed in the unit of work that adds its job, so no job is stored without its key and no
    key without its job."""

    def claim(self, record: IdempotencyRecord, *, expired_before: float) -> IdempotencyRecord:
        """Store ``record`` unless its principal's key is held already by a record created at
        or after ``expired_before`` (an older one is replaced); return the record that holds
        the key: ``record`` itself when it was stored, else the holder. Of claims of one key
        that race, one wins and the others get the winner (on SQL they wait for its
        transaction to end)."""
        ...

    def get(self, principal_id: str, key: str) -> IdempotencyRecord | None:
        """The record of the principal's key, expired or not."""
        ...

    def purge(self, before: float) -> int:
        """Delete the records created before ``before``; returns how many."""
        ...


class EndpointRepository(Protocol):
    """Endpoints (the spec last applied), and the hourly request counters per endpoint and
    key that cost per request and quotas read."""

    def put(self, endpoint: Endpoint, expected_generation: int | None) -> None:
        """Store ``endpoint``: a new one when ``expected_generation`` is None (ConflictError
        when the name is taken), else a replacement of the one stored at that generation
        (ConflictError when the stored generation differs, NotFoundError when none is)."""
        ...

    def get(self, name: str) -> Endpoint:
        """Raises NotFoundError."""
        ...

    def find(self, name: str) -> Endpoint | None: ...

    def listing(self, teams: Collection[str] | None = None) -> list[Endpoint]:
        """By name; only those of ``teams`` when given."""
        ...

    def delete(self, name: str) -> None:
        """Raises NotFoundError. Its counters stay (they are what was served and billed)."""
        ...

    def add_counts(self, counts: Collection[RequestCount]) -> None:
        """Add each to the counter of its (endpoint, principal, token_id, hour): requests,
        errors and tokens are summed into what is stored."""
        ...

    def counts(
        self,
        *,
        since: float,
        until: float,
        endpoint: str | None = None,
        teams: Collection[str] | None = None,
    ) -> list[RequestCount]:
        """The counters of the hours in [since, until), by hour then endpoint then principal."""
        ...


def conflict_message(
    run: Run, expected_state: RunState, stored_state: RunState | str, stored_revision: int
) -> str:
    """Why ``update_run`` refused ``run``: the same words from every member."""
    if str(stored_state) != str(expected_state):
        return f"run {run.id} is {stored_state}, not {expected_state}: it was changed concurrently"
    return (
        f"run {run.id} is at revision {stored_revision}, not {run.revision}: it was changed "
        "since it was read"
    )


class Repositories(Protocol):
    """One repository per aggregate: what a store and a unit of work both offer. Services that
    only read and write through repositories take this, so they can run inside a unit of work
    or on their own."""

    @property
    def principals(self) -> PrincipalRepository: ...

    @property
    def tokens(self) -> TokenRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def fleets(self) -> FleetRepository: ...

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def usage(self) -> UsageRepository: ...

    @property
    def alerts(self) -> AlertRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def models(self) -> ModelRepository: ...

    @property
    def datasets(self) -> DatasetRepository: ...

    @property
    def artifacts(self) -> ArtifactRepository: ...

    @property
    def endpoints(self) -> EndpointRepository: ...


class UnitOfWork(Repositories, Protocol):
    """The repositories over one transaction (see the module docstring)."""


class Store(Repositories, Protocol):
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction over every aggregate: commits when the block ends, rolls back (and
        re-raises) when it raises. Raises StoreError when one is open on this thread already."""
        ...

    def close(self) -> None: ...
