"""Principals, team memberships and tokens: what ``/users``, ``/teams/.../members`` and
``/tokens`` call. Every change is checked by the policy and recorded in the audit log in the
unit of work that makes it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

from aiplane.core.auth import (
    Action,
    Caller,
    GlobalRole,
    Principal,
    PrincipalKind,
    Resource,
    TeamRole,
    TokenRecord,
    TokenScope,
)
from aiplane.services.access import TOKEN_PREFIX, Access, hash_token
from aiplane.services.audit import AuditLog
from aiplane.services.ids import new_id
from aiplane.store.base import Repositories, Store

ADMIN_NAME = "admin"
# A workload's own token lives as long as this at most; it is revoked when its run ends.
WORKLOAD_TOKEN_TTL_S = 24 * 3600.0


def _principal_resource(principal: Principal) -> Resource:
    return Resource("principal", principal.name, owner=principal.id)


class IdentityService:
    def __init__(
        self, store: Store, access: Access, audit: AuditLog, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._access = access
        self._audit = audit
        self._clock = clock

    # -- principals ---------------------------------------------------------------------------

    def create_principal(
        self,
        caller: Caller | None,
        name: str,
        kind: PrincipalKind = PrincipalKind.USER,
        *,
        global_role: GlobalRole | None = None,
        email: str | None = None,
        subject: str | None = None,
        teams: dict[str, TeamRole] | None = None,
    ) -> Principal:
        """``caller`` None: the control plane itself (its first admin, an OIDC sign-in)."""
        if caller is not None:
            self._access.check(caller, Action.PRINCIPAL_CREATE, Resource("principal", name))
        now = self._clock()
        principal = Principal(
            new_id("p-", now), name, kind, now, global_role, dict(teams or {}), email, subject
        )
        with self._store.unit_of_work() as uow:
            uow.principals.add(principal)
            self._audit.record(
                uow,
                caller,
                str(Action.PRINCIPAL_CREATE),
                f"principal/{name}",
                detail={"kind": str(kind), "global_role": global_role and str(global_role)},
            )
        return principal

    def set_member(
        self, caller: Caller | None, team: str, name: str, role: TeamRole | None
    ) -> Principal:
        """Give ``name`` ``role`` in ``team``, or take them out of it (``role`` None)."""
        if caller is not None:
            self._access.check(caller, Action.TEAM_MEMBERS_MANAGE, Resource("team", team=team))
        with self._store.unit_of_work() as uow:
            principal = _by_name(uow, name)
            teams = dict(principal.teams)
            if role is None:
                teams.pop(team, None)
            else:
                teams[team] = role
            changed = replace(principal, teams=teams)
            uow.principals.update(changed)
            self._audit.record(
                uow,
                caller,
                str(Action.TEAM_MEMBERS_MANAGE),
                f"team/{team}",
                team=team,
                detail={"principal": name, "role": role and str(role)},
            )
        self._access.changed()
        return changed

    # -- tokens -------------------------------------------------------------------------------

    def issue_token(
        self,
        caller: Caller | None,
        principal: Principal,
        name: str,
        *,
        expires_in_s: float | None = None,
        scope: TokenScope | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token for ``principal`` and its plaintext, returned this once and never
        stored."""
        if caller is not None:
            self._access.check(caller, Action.TOKEN_CREATE, _principal_resource(principal))
        now = self._clock()
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=new_id("tok-", now),
            principal_id=principal.id,
            name=name,
            token_hash=hash_token(plaintext),
            created_at=now,
            expires_at=now + expires_in_s if expires_in_s is not None else None,
            scope=scope,
            prefix=plaintext[: len(TOKEN_PREFIX) + 4],
        )
        with self._store.unit_of_work() as uow:
            uow.tokens.add(record)
            self._audit.record(
                uow,
                caller,
                str(Action.TOKEN_CREATE),
                f"token/{record.id}",
                team=scope.team if scope else None,
                detail={"principal": principal.name, "name": name, "expires_at": record.expires_at},
            )
        return record, plaintext

    def create_token(
        self,
        caller: Caller,
        name: str,
        principal_name: str | None = None,
        expires_in_s: float | None = None,
    ) -> tuple[TokenRecord, str, Principal]:
        """A token for ``principal_name`` (default: the caller) and its plaintext."""
        holder = (
            caller.principal if principal_name is None else _by_name(self._store, principal_name)
        )
        record, plaintext = self.issue_token(caller, holder, name, expires_in_s=expires_in_s)
        return record, plaintext, holder

    def ensure_admin(self) -> str | None:
        """On the very first start, create the admin principal and its token, and return the
        token's plaintext; else None."""
        if self._store.principals.count() > 0:
            return None
        admin = self.create_principal(
            None, ADMIN_NAME, PrincipalKind.USER, global_role=GlobalRole.ADMIN
        )
        _, plaintext = self.issue_token(None, admin, ADMIN_NAME)
        return plaintext


def _by_name(repos: Repositories, name: str) -> Principal:
    from aiplane.core.errors import NotFoundError

    found = repos.principals.by_name(name)
    if found is None:
        raise NotFoundError(f"principal {name!r} not found")
    return found
