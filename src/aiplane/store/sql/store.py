"""``SqlStore``: the store on SQLAlchemy, for SQLite files and PostgreSQL.

Its repositories (one module per aggregate) run each call in a short transaction of its own,
so one store can be shared by API worker threads and background loops: nothing is held between
calls but the connection pool. ``unit_of_work`` hands out the same repositories over one
session, committed when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from aiplane.store.base import Store, UnitOfWork
from aiplane.store.sql.alerts import SqlAlertRepository
from aiplane.store.sql.artifacts import SqlArtifactRepository
from aiplane.store.sql.audit import SqlAuditRepository
from aiplane.store.sql.datasets import SqlDatasetRepository
from aiplane.store.sql.endpoints import SqlEndpointRepository
from aiplane.store.sql.engine import WRITE_TRANSACTION, make_engine
from aiplane.store.sql.events import SqlEventRepository
from aiplane.store.sql.fleets import SqlFleetRepository
from aiplane.store.sql.idempotency import SqlIdempotencyRepository
from aiplane.store.sql.jobs import SqlJobRepository
from aiplane.store.sql.migrate import upgrade
from aiplane.store.sql.models import SqlModelRepository
from aiplane.store.sql.principals import SqlPrincipalRepository
from aiplane.store.sql.session import PerCall, Scope, Shared, UnitMarker, translated
from aiplane.store.sql.tokens import SqlTokenRepository
from aiplane.store.sql.usage import SqlUsageRepository


class SqlRepositories:
    """Every aggregate's repository over one scope."""

    def __init__(self, scope: Scope, write_scope: Scope | None = None) -> None:
        """``write_scope``: for the calls that must begin as write transactions (an audit
        append, a principal's write, a registration, an endpoint's put); ``scope`` when it
        serves both, as a unit of work's does."""
        self.principals = SqlPrincipalRepository(scope, write_scope)
        self.tokens = SqlTokenRepository(scope)
        self.audit = SqlAuditRepository(scope, write_scope)
        self.fleets = SqlFleetRepository(scope)
        self.jobs = SqlJobRepository(scope)
        self.events = SqlEventRepository(scope)
        self.usage = SqlUsageRepository(scope)
        self.alerts = SqlAlertRepository(scope)
        self.idempotency = SqlIdempotencyRepository(scope)
        self.models = SqlModelRepository(scope, write_scope)
        self.datasets = SqlDatasetRepository(scope, write_scope)
        self.artifacts = SqlArtifactRepository(scope)
        self.endpoints = SqlEndpointRepository(scope, write_scope)


class SqlStore(SqlRepositories):
    def __init__(self, engine: Engine) -> None:
        """Use an engine whose schema is already current; ``open`` is the usual way in."""
        self._engine = engine
        self._units = UnitMarker()
        writer = engine.execution_options(**{WRITE_TRANSACTION: True})
        self._unit_sessions = sessionmaker(writer, expire_on_commit=False)
        super().__init__(
            PerCall(sessionmaker(engine, expire_on_commit=False), self._units),
            PerCall(self._unit_sessions, self._units),
        )

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True) -> SqlStore:
        """Connect to ``url`` and, unless ``migrate`` is false, upgrade the schema to head."""
        engine = make_engine(url)
        try:
            if migrate:
                upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with self._units.entered(), translated(), self._unit_sessions.begin() as session:
            yield SqlRepositories(Shared(session))

    def close(self) -> None:
        self._engine.dispose()


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: Store = SqlStore(cast(Engine, None))
    _unit_conforms: UnitOfWork = SqlRepositories(cast(Scope, None))
