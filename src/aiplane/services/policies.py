"""Promotion policies: one per model or per team, read through ``PolicyDocuments``, changed
by the team's owners (or an admin), every change audited with the document it sets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiplane.core.auth import Caller
from aiplane.core.auth.policy import Action, Resource
from aiplane.core.errors import Problem, SpecError
from aiplane.core.registry.policy import PromotionPolicy
from aiplane.core.registry.records import Model, PolicyRecord, PolicyScope
from aiplane.core.registry.refs import name_problem
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.registry_ports import PolicyDocuments
from aiplane.services.registry_types import PolicyInForce
from aiplane.store.base import Repositories, Store


def record_in_force(repos: Repositories, model: Model) -> PolicyRecord | None:
    """The model's own policy, else its team's, else None."""
    return repos.models.get_policy(PolicyScope.MODEL, model.name) or repos.models.get_policy(
        PolicyScope.TEAM, model.team
    )


def policy_in_force(
    documents: PolicyDocuments, repos: Repositories, model: Model
) -> PromotionPolicy:
    record = record_in_force(repos, model)
    if record is None:
        return documents.default()
    return documents.read(record.document, f"{record.scope}/{record.name}")


class PolicyService:
    def __init__(
        self,
        store: Store,
        documents: PolicyDocuments,
        clock: Callable[[], float],
        *,
        access: Access,
        audit: AuditLog,
    ) -> None:
        self._store = store
        self._documents = documents
        self._clock = clock
        self._access = access
        self._audit = audit

    def _team_of(self, scope: PolicyScope, name: str) -> str:
        if scope is PolicyScope.TEAM:
            return name
        return self._store.models.get(name).team

    def get(self, caller: Caller, scope: PolicyScope, name: str) -> PolicyInForce:
        """The policy that holds for the model (its own, its team's or the default), or a
        team's own."""
        team = self._team_of(scope, name)
        self._access.check(caller, Action.MODEL_READ, Resource("model", name, team=team))
        if scope is PolicyScope.MODEL:
            model = self._store.models.get(name)
            record = record_in_force(self._store, model)
        else:
            record = self._store.models.get_policy(scope, name)
        if record is None:
            return PolicyInForce(self._documents.default(), None)
        return PolicyInForce(self._documents.read(record.document, f"{scope}/{name}"), record)

    def put(
        self,
        caller: Caller,
        scope: PolicyScope,
        name: str,
        document: Mapping[str, Any],
        source: str,
    ) -> PolicyRecord:
        problem = name_problem(name, "name")
        if problem is not None:
            raise SpecError("invalid policy target", [problem])
        team = self._team_of(scope, name)
        self._access.check(caller, Action.MODEL_POLICY_MANAGE, Resource("model", name, team=team))
        self._documents.read(document, source)  # every problem named before anything changes
        now = self._clock()
        with self._store.unit_of_work() as uow:
            stored = uow.models.get_policy(scope, name)
            record = PolicyRecord(
                scope,
                name,
                dict(document),
                (stored.revision if stored else 0) + 1,
                now,
                caller.principal.id,
            )
            uow.models.put_policy(record, stored.revision if stored else None)
            self._audit.record(
                uow,
                caller,
                str(Action.MODEL_POLICY_MANAGE),
                f"model-policy/{scope}/{name}",
                team=team,
                detail={"revision": record.revision, "document": dict(document)},
            )
        return record


def refused_target(scope: str) -> Problem:
    return Problem("scope", "unknown policy scope", scope, ", ".join(s.value for s in PolicyScope))
