"""Registered models in SQL: one aggregate over ``models``, ``model_versions`` (with their
``model_version_inputs``), ``model_aliases``, ``alias_moves``, ``approvals``,
``registry_policies`` and ``deployments``.

Every compare-and-set is one statement the database settles: a registration or a new alias or
policy is an INSERT that a taken key turns into nothing (ON CONFLICT DO NOTHING, so a lost race
on PostgreSQL does not abort the unit of work around it), and moving an alias or replacing a
policy is an UPDATE conditioned on the value expected, whose row count tells who won.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.registry.records import (
    Alias,
    AliasMove,
    Approval,
    Deployment,
    Model,
    ModelVersion,
    PolicyRecord,
    PolicyScope,
)
from aiplane.store import registry_codec as rc
from aiplane.store.sql.registry_tables import (
    AliasMoveRow,
    ApprovalRow,
    DeploymentRow,
    ModelAliasRow,
    ModelRow,
    ModelVersionInputRow,
    ModelVersionRow,
    PolicyRow,
)
from aiplane.store.sql.session import Scope, insert_new, insert_where
from aiplane.store.sql.tables import table_of

_MODELS = table_of(ModelRow)
_VERSIONS = table_of(ModelVersionRow)
_INPUTS = table_of(ModelVersionInputRow)
_ALIASES = table_of(ModelAliasRow)
_MOVES = table_of(AliasMoveRow)
_APPROVALS = table_of(ApprovalRow)
_POLICIES = table_of(PolicyRow)
_DEPLOYMENTS = table_of(DeploymentRow)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class SqlModelRepository:
    def __init__(self, scope: Scope, write_scope: Scope | None = None) -> None:
        """``write_scope``: for ``add_version``, whose refusal reads (why?) in the transaction
        that wrote, so on SQLite it holds the write lock from its BEGIN (see principals)."""
        self._scope = scope
        self._write_scope = write_scope if write_scope is not None else scope

    def add(self, model: Model) -> None:
        with self._scope() as session:
            if not insert_new(session, _MODELS, rc.model_to(model)):
                raise ConflictError(f"model {model.name} exists already")

    def get(self, name: str) -> Model:
        with self._scope() as session:
            row = session.execute(select(_MODELS).where(_MODELS.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"model {name} not found")
        return rc.model_from(row)

    def update(self, model: Model) -> None:
        values = rc.model_to(model)
        del values["name"]  # identity, never rewritten
        stmt = update(_MODELS).where(_MODELS.c.name == model.name).values(values)
        with self._scope() as session:
            if _rowcount(session.execute(stmt)) != 1:
                raise NotFoundError(f"model {model.name} not found")

    def listing(self, teams: Collection[str] | None = None) -> list[Model]:
        if teams is not None and not teams:
            return []
        stmt = select(_MODELS).order_by(_MODELS.c.name)
        if teams is not None:
            stmt = stmt.where(_MODELS.c.team.in_(sorted(teams)))
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.model_from(row) for row in rows]

    def add_version(self, version: ModelVersion) -> None:
        # One INSERT of the version, made conditional on the model's row (INSERT ... SELECT
        # WHERE EXISTS) and on its number being free (the primary key, ON CONFLICT DO
        # NOTHING): the compare-and-set of a registration. Then one of its input rows. The
        # model is never read back or rewritten; only a refused insert asks why.
        known = select(_MODELS.c.name).where(_MODELS.c.name == version.model).exists()
        with self._write_scope() as session:
            if not insert_where(session, _VERSIONS, rc.version_to(version), known):
                if session.execute(select(known)).scalar():
                    raise ConflictError(f"{version.ref} exists already")
                raise NotFoundError(f"model {version.model} not found")
            refs = sorted(set(version.inputs))
            if refs:
                session.execute(
                    insert(_INPUTS),
                    [
                        {"model": version.model, "version": version.version, "dataset_ref": ref}
                        for ref in refs
                    ],
                )

    def get_version(self, model: str, version: int) -> ModelVersion:
        stmt = select(_VERSIONS).where(_VERSIONS.c.model == model, _VERSIONS.c.version == version)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"model version {model}@{version} not found")
        return rc.version_from(row)

    def latest_version(self, model: str) -> ModelVersion | None:
        found = self.versions(model, limit=1)
        return found[0] if found else None

    def versions(
        self, model: str, *, limit: int = 100, before: int | None = None
    ) -> list[ModelVersion]:
        if limit <= 0:
            return []
        stmt = (
            select(_VERSIONS)
            .where(_VERSIONS.c.model == model)
            .order_by(_VERSIONS.c.version.desc())
            .limit(limit)
        )
        if before is not None:
            stmt = stmt.where(_VERSIONS.c.version < before)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.version_from(row) for row in rows]

    def update_version(self, version: ModelVersion) -> None:
        stmt = (
            update(_VERSIONS)
            .where(_VERSIONS.c.model == version.model, _VERSIONS.c.version == version.version)
            .values(
                tags=dict(version.tags),
                metrics=dict(version.metrics),
                description=version.description,
            )
        )
        with self._scope() as session:
            if _rowcount(session.execute(stmt)) != 1:
                raise NotFoundError(f"model version {version.ref} not found")

    def version_count(self) -> int:
        with self._scope() as session:
            return session.scalar(select(func.count()).select_from(_VERSIONS)) or 0

    def trained_on(self, dataset_ref: str) -> list[ModelVersion]:
        stmt = (
            select(_VERSIONS)
            .join(
                _INPUTS,
                (_INPUTS.c.model == _VERSIONS.c.model) & (_INPUTS.c.version == _VERSIONS.c.version),
            )
            .where(_INPUTS.c.dataset_ref == dataset_ref)
            .order_by(_VERSIONS.c.model, _VERSIONS.c.version)
        )
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.version_from(row) for row in rows]

    def aliases(self, model: str) -> list[Alias]:
        stmt = select(_ALIASES).where(_ALIASES.c.model == model).order_by(_ALIASES.c.name)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.alias_from(row) for row in rows]

    def get_alias(self, model: str, name: str) -> Alias | None:
        stmt = select(_ALIASES).where(_ALIASES.c.model == model, _ALIASES.c.name == name)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        return rc.alias_from(row) if row is not None else None

    def _held(self, session: Any, model: str, name: str) -> int | None:
        stmt = select(_ALIASES.c.version).where(_ALIASES.c.model == model, _ALIASES.c.name == name)
        held: int | None = session.scalar(stmt)
        return held

    def set_alias(self, alias: Alias, expected: int | None) -> None:
        with self._scope() as session:
            if expected is None:
                won = insert_new(session, _ALIASES, rc.alias_to(alias))
            else:
                stmt = (
                    update(_ALIASES)
                    .where(
                        _ALIASES.c.model == alias.model,
                        _ALIASES.c.name == alias.name,
                        _ALIASES.c.version == expected,
                    )
                    .values(version=alias.version, moved_at=alias.moved_at, moved_by=alias.moved_by)
                )
                won = _rowcount(session.execute(stmt)) == 1
            if won:
                return
            held = self._held(session, alias.model, alias.name)
        raise ConflictError(rc.alias_conflict(alias.model, alias.name, expected, held))

    def delete_alias(self, model: str, name: str, expected: int) -> None:
        stmt = delete(_ALIASES).where(
            _ALIASES.c.model == model, _ALIASES.c.name == name, _ALIASES.c.version == expected
        )
        with self._scope() as session:
            if _rowcount(session.execute(stmt)) == 1:
                return
            held = self._held(session, model, name)
        raise ConflictError(rc.alias_conflict(model, name, expected, held))

    def add_move(self, move: AliasMove) -> None:
        with self._scope() as session:
            session.execute(insert(_MOVES).values(rc.move_to(move)))

    def moves(
        self, model: str, *, alias: str | None = None, until: float | None = None
    ) -> list[AliasMove]:
        stmt = select(_MOVES).where(_MOVES.c.model == model).order_by(_MOVES.c.at, _MOVES.c.id)
        if alias is not None:
            stmt = stmt.where(_MOVES.c.alias == alias)
        if until is not None:
            stmt = stmt.where(_MOVES.c.at <= until)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.move_from(row) for row in rows]

    def add_approval(self, approval: Approval) -> None:
        with self._scope() as session:
            if not insert_new(session, _APPROVALS, rc.approval_to(approval)):
                raise ConflictError(
                    f"{approval.by} approved {approval.model}@{approval.version} for "
                    f"{approval.alias} already"
                )

    def approvals(self, model: str, version: int, alias: str | None = None) -> list[Approval]:
        a = _APPROVALS.c
        stmt = select(_APPROVALS).where(a.model == model, a.version == version)
        if alias is not None:
            stmt = stmt.where(a.alias == alias)
        with self._scope() as session:
            rows = session.execute(stmt.order_by(a.at, a.id)).mappings().all()
        return [rc.approval_from(row) for row in rows]

    def put_policy(self, policy: PolicyRecord, expected_revision: int | None) -> None:
        values = rc.policy_to(policy)
        p = _POLICIES.c
        with self._scope() as session:
            if expected_revision is None:
                won = insert_new(session, _POLICIES, values)
            else:
                stmt = (
                    update(_POLICIES)
                    .where(
                        p.scope == values["scope"],
                        p.name == policy.name,
                        p.revision == expected_revision,
                    )
                    .values(values)
                )
                won = _rowcount(session.execute(stmt)) == 1
            if won:
                return
            held = session.scalar(
                select(p.revision).where(p.scope == values["scope"], p.name == policy.name)
            )
        raise ConflictError(rc.policy_conflict(policy.scope, policy.name, expected_revision, held))

    def get_policy(self, scope: PolicyScope, name: str) -> PolicyRecord | None:
        stmt = select(_POLICIES).where(_POLICIES.c.scope == str(scope), _POLICIES.c.name == name)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        return rc.policy_from(row) if row is not None else None

    def add_deployment(self, deployment: Deployment) -> None:
        with self._scope() as session:
            session.execute(insert(_DEPLOYMENTS).values(rc.deployment_to(deployment)))

    def deployments(self, model: str, version: int | None = None) -> list[Deployment]:
        d = _DEPLOYMENTS.c
        stmt = select(_DEPLOYMENTS).where(d.model == model).order_by(d.at, d.id)
        if version is not None:
            stmt = stmt.where(d.version == version)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [rc.deployment_from(row) for row in rows]
