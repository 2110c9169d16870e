"""Principals, team memberships and tokens: what ``/users``, ``/teams/.../members`` and
``/tokens`` call, and the OIDC sign-in that maps a verified identity to a principal.

Every change is checked by the policy and recorded in the audit log in the unit of work that
makes it; after each, ``Access.changed`` drops the cached identities, so that a revoked token
or a disabled principal is refused at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Literal

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
from aiplane.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
)
from aiplane.oidc.base import Claims
from aiplane.services.access import TOKEN_PREFIX, Access, hash_token
from aiplane.services.audit import AuditLog
from aiplane.services.identity_rules import (
    ADMIN_NAME,
    CLEAR,
    EMAIL,
    OIDC_TOKEN_MAX_S,
    RESERVED_NAMES,
    Member,
    TokenView,
    check_email,
    check_name,
    check_principal_name,
    check_token_name,
    check_ttl,
    claimed_teams,
    name_base,
    principal_resource,
    token_resource,
    token_state,
)
from aiplane.services.ids import new_id
from aiplane.store.base import Repositories, Store


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
        teams: Mapping[str, TeamRole] | None = None,
    ) -> Principal:
        """``caller`` None: the control plane itself (its first admin, an OIDC sign-in)."""
        check_principal_name(name, "name")
        check_email(email)
        for team in teams or {}:
            check_name(team, "team")
        if caller is not None:
            self._access.check(caller, Action.PRINCIPAL_CREATE, Resource("principal", name))
        now = self._clock()
        principal = Principal(
            new_id("p-", now), name, kind, now, global_role, dict(teams or {}), email, subject
        )
        with self._store.unit_of_work() as uow:
            if uow.principals.by_name(name) is not None:
                raise ConflictError(f"principal {name!r} exists already")
            uow.principals.add(principal)
            self._audit.record(
                uow,
                caller,
                str(Action.PRINCIPAL_CREATE),
                f"principal/{name}",
                detail={
                    "kind": str(kind),
                    "global_role": global_role and str(global_role),
                    "via": "oidc" if subject else None,
                },
            )
        return principal

    def list_principals(self, caller: Caller) -> list[Principal]:
        self._access.check(caller, Action.PRINCIPAL_LIST, Resource("principal"))
        return self._store.principals.listing()

    def get_principal(self, caller: Caller, name: str) -> Principal:
        """Admins read anyone; everyone else themselves only (another name, existing or not,
        is refused alike: the answer does not tell which names exist)."""
        return self._lookup(caller, Action.PRINCIPAL_READ, name)

    def update_principal(
        self,
        caller: Caller,
        name: str,
        *,
        global_role: GlobalRole | Literal["none"] | None = None,
        disabled: bool | None = None,
        email: str | None = None,
    ) -> Principal:
        """Change a principal's global role (``CLEAR``: none), e-mail (``""``: none) or
        whether it may sign in (admins); None leaves a field as it is. The last enabled admin
        is neither demoted nor disabled: that would lock everyone out."""
        if email:
            check_email(email)
        target = self._lookup(caller, Action.PRINCIPAL_UPDATE, name)
        with self._store.unit_of_work() as uow:
            found = uow.principals.get(target.id)
            changed = replace(
                found,
                global_role=_new_role(found.global_role, global_role),
                disabled=found.disabled if disabled is None else disabled,
                email=found.email if email is None else (email or None),
            )
            if found.is_admin and not found.disabled and not _enabled_admin(changed):
                others = [
                    p for p in uow.principals.listing() if p.id != found.id and _enabled_admin(p)
                ]
                if not others:
                    raise ConflictError(
                        f"{name!r} is the last enabled admin: make another admin first"
                    )
            uow.principals.update(changed)
            self._audit.record(
                uow,
                caller,
                str(Action.PRINCIPAL_UPDATE),
                f"principal/{name}",
                detail=_differences(found, changed),
            )
        self._access.changed()
        return changed

    # -- team memberships ---------------------------------------------------------------------

    def members(self, caller: Caller, team: str) -> list[Member]:
        check_name(team, "team")
        self._access.check(caller, Action.TEAM_MEMBERS_READ, Resource("team", team=team))
        return [Member(p, p.teams[team]) for p in self._store.principals.members(team)]

    def set_member(
        self, caller: Caller | None, team: str, name: str, role: TeamRole | None
    ) -> Principal:
        """Give ``name`` ``role`` in ``team``, or take them out of it (``role`` None).

        A team is any well-formed name: memberships may be set up before the fleet that
        budgets the team is applied (decision 0023)."""
        check_name(team, "team")
        if caller is not None:
            self._access.check(caller, Action.TEAM_MEMBERS_MANAGE, Resource("team", team=team))
        with self._store.unit_of_work() as uow:
            principal = _by_name(uow, name)
            teams = dict(principal.teams)
            if role is None:
                if team not in teams:
                    raise NotFoundError(f"{name!r} is not a member of team {team!r}")
                del teams[team]
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
        check_token_name(name)
        check_ttl(expires_in_s)
        if caller is not None:
            self._access.check(caller, Action.TOKEN_CREATE, principal_resource(principal))
        if principal.disabled:
            raise ConflictError(f"principal {principal.name!r} is disabled: enable it first")
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
        """A token for ``principal_name`` (default: the caller; another's: admins only) and
        its plaintext."""
        holder = (
            caller.principal
            if principal_name is None
            else self._lookup(caller, Action.TOKEN_CREATE, principal_name)
        )
        if caller.via == "oidc":
            # Signed in through the identity provider: a token made now must not outlive the
            # provider's say for long (a person removed there keeps no token for good).
            expires_in_s = min(expires_in_s or OIDC_TOKEN_MAX_S, OIDC_TOKEN_MAX_S)
        record, plaintext = self.issue_token(caller, holder, name, expires_in_s=expires_in_s)
        return record, plaintext, holder

    def list_tokens(
        self, caller: Caller, principal_name: str | None = None, *, every: bool = False
    ) -> list[TokenView]:
        """The caller's own tokens; ``principal_name``'s, or ``every`` principal's (admins)."""
        if every:
            self._access.check(caller, Action.TOKEN_LIST, Resource("token"))
            holder_id: str | None = None
        else:
            holder = (
                caller.principal
                if principal_name is None
                else self._lookup(caller, Action.TOKEN_LIST, principal_name)
            )
            self._access.check(caller, Action.TOKEN_LIST, principal_resource(holder))
            holder_id = holder.id
        names: dict[str, str] = {}
        now = self._clock()
        out = []
        for record in self._store.tokens.listing(holder_id):
            if record.principal_id not in names:
                names[record.principal_id] = self._store.principals.get(record.principal_id).name
            out.append(TokenView(record, names[record.principal_id], token_state(record, now)))
        return out

    def revoke_token(self, caller: Caller, token_id: str) -> TokenRecord:
        """Revoke a token at once (own, or anyone's for admins). Another principal's token is
        answered as not found: its existence is not disclosed. Revoking twice is a no-op."""
        if caller.scope is not None:
            # A workload's token revokes nothing, whichever token: forbidden, not hidden.
            self._access.check(caller, Action.TOKEN_REVOKE, Resource("token", token_id))
        try:
            record = self._store.tokens.get(token_id)
        except NotFoundError:
            record = None
        resource = token_resource(record) if record else Resource("token", token_id)
        decision = self._access.decide(caller, Action.TOKEN_REVOKE, resource)
        if record is None or not decision.allowed:
            refusal = NotFoundError(f"token {token_id} not found")
            if not decision.allowed:
                self._audit.record_now(
                    caller,
                    str(Action.TOKEN_REVOKE),
                    f"token/{token_id}",
                    outcome="denied",
                    detail={"reason": decision.reason},
                )
                refusal.audited = True
            raise refusal
        if record.revoked_at is not None:
            # Nothing changes, but the call was made: every mutating call is audited.
            self._audit.record_now(
                caller,
                str(Action.TOKEN_REVOKE),
                f"token/{token_id}",
                outcome="ok",
                detail={"already_revoked_at": record.revoked_at},
            )
            return record
        with self._store.unit_of_work() as uow:
            revoked = uow.tokens.revoke(token_id, self._clock())
            self._audit.record(
                uow,
                caller,
                str(Action.TOKEN_REVOKE),
                f"token/{token_id}",
                team=record.scope.team if record.scope else None,
                detail={"name": record.name},
            )
        self._access.changed()
        return revoked

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

    # -- OIDC sign-in -------------------------------------------------------------------------

    def sign_in(self, claims: Claims) -> Caller:
        """The principal behind verified ``claims``: the one bound to the identity (issuer and
        subject), else the unbound one with the e-mail, when the provider says it verified it
        (``email_verified: true``), which is then bound to it, else a new user. Teams come from
        the claim for this request only; global roles never do."""
        principal = self._store.principals.by_subject(claims.identity)
        if principal is None:
            principal = self._by_email(claims)
        if principal is None:
            principal = self._first_sign_in(claims)
        if principal.disabled:
            raise AuthenticationError(f"principal {principal.name!r} is disabled")
        return Caller(principal, "oidc", claimed_teams=claimed_teams(claims.teams))

    def _by_email(self, claims: Claims) -> Principal | None:
        # Only the provider's explicit word: a claim without ``email_verified`` is whatever
        # address the person typed into their account there, anybody's admin's included.
        if claims.email is None or claims.email_verified is not True:
            return None
        found = self._store.principals.by_email(claims.email)
        if found is None:
            return None
        refusal = AuthenticationError(
            f"the e-mail {claims.email!r} belongs to a principal of another identity"
        )
        if found.subject is not None:
            # Bound to another identity already: an e-mail is no key to somebody else's account.
            raise refusal
        with self._store.unit_of_work() as uow:
            # Read again where it is written: a concurrent sign-in may have bound it meanwhile.
            current = uow.principals.get(found.id)
            if current.subject is not None:
                raise refusal
            bound = replace(current, subject=claims.identity)
            uow.principals.update(bound)
            self._audit.record(
                uow,
                None,
                "principal.bind",
                f"principal/{found.name}",
                detail={"via": "oidc", "issuer": claims.issuer},
            )
        self._access.changed()
        return bound

    def _first_sign_in(self, claims: Claims) -> Principal:
        base = name_base(claims)
        # An unverified e-mail is not stored: held by this principal, it would keep the
        # address from its owner (e-mails are unique) and be matched on their next sign-in.
        email = claims.email if claims.email_verified is True else None
        if email is not None and not EMAIL.fullmatch(email):
            email = None
        for attempt in range(1, 100):
            name = base if attempt == 1 else f"{base}-{attempt}"
            if name in RESERVED_NAMES or self._store.principals.by_name(name) is not None:
                continue
            try:
                return self.create_principal(
                    None, name, PrincipalKind.USER, email=email, subject=claims.identity
                )
            except ConflictError:
                # A concurrent first sign-in of the same identity, or the name just taken.
                again = self._store.principals.by_subject(claims.identity)
                if again is not None:
                    return again
        raise ConflictError(f"no free principal name for {base!r}")

    def _lookup(self, caller: Caller, action: Action, name: str) -> Principal:
        """The principal ``name`` once ``caller`` may do ``action`` on it; a refusal says the
        same whether or not ``name`` exists."""
        found = self._store.principals.by_name(name)
        resource = principal_resource(found) if found else Resource("principal", name)
        self._access.check(caller, action, resource)
        if found is None:
            raise NotFoundError(f"principal {name!r} not found")
        return found


def _new_role(
    old: GlobalRole | None, given: GlobalRole | Literal["none"] | None
) -> GlobalRole | None:
    if given is None:
        return old
    return None if given == CLEAR else GlobalRole(given)


def _enabled_admin(principal: Principal) -> bool:
    return principal.is_admin and not principal.disabled


def _differences(old: Principal, new: Principal) -> dict[str, object]:
    out: dict[str, object] = {}
    if old.global_role != new.global_role:
        out["global_role"] = new.global_role and str(new.global_role)
    if old.disabled != new.disabled:
        out["disabled"] = new.disabled
    if old.email != new.email:
        out["email"] = new.email
    return out


def _by_name(repos: Repositories, name: str) -> Principal:
    found = repos.principals.by_name(name)
    if found is None:
        raise NotFoundError(f"principal {name!r} not found")
    return found
