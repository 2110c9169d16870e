"""The identity service over the memory and SQLite stores: principals, memberships, tokens and OIDC
sign-in, each change checked by the policy and in the audit log, each refusal too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiplane.core.auth import Caller, GlobalRole, PrincipalKind, TeamRole
from aiplane.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    SpecError,
)
from aiplane.oidc.base import Claims
from aiplane.services.access import Access, TokenAuthenticator
from aiplane.services.audit import AuditLog
from aiplane.services.identity import IdentityService
from aiplane.services.identity_rules import CLEAR, claimed_teams
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore

T0 = 1_800_000_000.0


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: Store
    clock: Clock
    audit: AuditLog
    access: Access
    identity: IdentityService

    def caller(self, credential: str) -> Caller:
        return self.access.authenticate(credential)

    def user(
        self,
        name: str,
        *,
        role: GlobalRole | None = None,
        teams: dict[str, TeamRole] | None = None,
    ) -> tuple[Caller, str]:
        principal = self.identity.create_principal(None, name, global_role=role, teams=teams)
        _, plaintext = self.identity.issue_token(None, principal, f"{name}-token")
        return self.caller(plaintext), plaintext

    def actions(self) -> list[tuple[str, str, str]]:
        return [(e.record.actor, e.record.action, e.record.outcome) for e in self.audit.search()]


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """Over the memory store and the SQLite one: the service relies on what the store
    protocol promises (unique names, e-mails and subjects; tokens by hash), nothing more."""
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    else:
        from aiplane.store.sql import SqlStore

        store = SqlStore.open(f"sqlite:///{tmp_path / 'aiplane.db'}")
    clock = Clock()
    audit = AuditLog(store, Ed25519Signer.generate(), clock)
    # A long cache: what is tested is that a change drops it, not that it times out.
    tokens = TokenAuthenticator(store, clock, ttl_s=3600.0)
    access = Access(audit, [tokens], on_change=tokens.forget)
    yield World(store, clock, audit, access, IdentityService(store, access, audit, clock))
    store.close()


def test_admin_creates_lists_and_updates_principals(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    bot = world.identity.create_principal(admin, "ci-bot", PrincipalKind.SERVICE)
    assert bot.kind is PrincipalKind.SERVICE
    assert [p.name for p in world.identity.list_principals(admin)] == ["ci-bot", "root"]
    changed = world.identity.update_principal(
        admin, "ci-bot", global_role=GlobalRole.OPERATOR, email="ci@example.org"
    )
    assert changed.global_role is GlobalRole.OPERATOR and changed.email == "ci@example.org"
    cleared = world.identity.update_principal(admin, "ci-bot", global_role=CLEAR, email="")
    assert cleared.global_role is None and cleared.email is None
    assert ("root", "principal.create", "ok") in world.actions()
    assert ("root", "principal.update", "ok") in world.actions()
    with pytest.raises(ConflictError):
        world.identity.create_principal(admin, "ci-bot")


def test_non_admins_read_themselves_only(world: World) -> None:
    alice, _ = world.user("alice", teams={"a": TeamRole.MEMBER})
    world.user("bob")
    assert world.identity.get_principal(alice, "alice").name == "alice"
    # Another name is refused the same whether it exists or not.
    for other in ("bob", "nobody"):
        with pytest.raises(PermissionDeniedError):
            world.identity.get_principal(alice, other)
    with pytest.raises(PermissionDeniedError):
        world.identity.list_principals(alice)
    with pytest.raises(PermissionDeniedError):
        world.identity.update_principal(alice, "alice", global_role=GlobalRole.ADMIN)
    with pytest.raises(PermissionDeniedError):
        world.identity.create_principal(alice, "mallory")
    assert ("alice", "principal.update", "denied") in world.actions()


def test_bad_names_and_emails_are_located(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    with pytest.raises(SpecError) as bad:
        world.identity.create_principal(admin, "Not Valid")
    problem = bad.value.problems[0]
    assert problem.location == "name" and problem.given == "'Not Valid'"
    assert problem.allowed and "a-z0-9" in problem.allowed
    with pytest.raises(SpecError):
        world.identity.create_principal(admin, "x", email="not-an-email")
    with pytest.raises(SpecError) as bad_team:
        world.identity.set_member(admin, "Team A", "root", TeamRole.MEMBER)
    assert bad_team.value.problems[0].location == "team"
    with pytest.raises(SpecError):
        world.identity.set_member(admin, "", "root", TeamRole.MEMBER)


def test_the_last_enabled_admin_stays(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    with pytest.raises(ConflictError):
        world.identity.update_principal(admin, "root", disabled=True)
    with pytest.raises(ConflictError):
        world.identity.update_principal(admin, "root", global_role=CLEAR)
    world.identity.create_principal(admin, "second", global_role=GlobalRole.ADMIN)
    demoted = world.identity.update_principal(admin, "root", global_role=GlobalRole.OPERATOR)
    assert demoted.global_role is GlobalRole.OPERATOR


def test_team_owners_manage_their_team_only(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    owner, _ = world.user("olga", teams={"a": TeamRole.OWNER})
    member, _ = world.user("mo", teams={"a": TeamRole.MEMBER})
    outsider, _ = world.user("bo", teams={"b": TeamRole.OWNER})
    world.user("new")
    world.identity.set_member(owner, "a", "new", TeamRole.VIEWER)
    names = {m.principal.name: m.role for m in world.identity.members(member, "a")}
    assert names == {"olga": TeamRole.OWNER, "mo": TeamRole.MEMBER, "new": TeamRole.VIEWER}
    # A member of the team may read but not manage it; another team's owner does not see it.
    with pytest.raises(PermissionDeniedError):
        world.identity.set_member(member, "a", "new", TeamRole.OWNER)
    with pytest.raises(NotFoundError):
        world.identity.set_member(outsider, "a", "new", TeamRole.OWNER)
    with pytest.raises(NotFoundError):
        world.identity.members(outsider, "a")
    world.identity.set_member(admin, "a", "new", None)
    assert "new" not in {m.principal.name for m in world.identity.members(owner, "a")}
    with pytest.raises(NotFoundError):
        world.identity.set_member(admin, "a", "new", None)  # not a member any more
    with pytest.raises(NotFoundError):
        world.identity.set_member(admin, "a", "ghost", TeamRole.MEMBER)
    assert ("bo", "team.members.manage", "denied") in world.actions()


def test_a_membership_change_is_seen_at_once(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    _, plaintext = world.user("mo", teams={"a": TeamRole.MEMBER})
    assert world.caller(plaintext).team_role("a") is TeamRole.MEMBER
    world.identity.set_member(admin, "a", "mo", TeamRole.OWNER)
    assert world.caller(plaintext).team_role("a") is TeamRole.OWNER


def test_tokens_own_and_admins(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    alice, _ = world.user("alice")
    world.user("bob")
    record, plaintext, holder = world.identity.create_token(alice, "laptop", expires_in_s=60)
    assert holder.name == "alice" and record.expires_at == T0 + 60
    assert plaintext.startswith(record.prefix) and record.token_hash not in plaintext
    assert {v.record.name for v in world.identity.list_tokens(alice)} == {"laptop", "alice-token"}
    # Another principal's tokens: admins only; the refusal does not say whether they exist.
    for other in ("bob", "nobody"):
        with pytest.raises(PermissionDeniedError):
            world.identity.create_token(alice, "x", principal_name=other)
        with pytest.raises(PermissionDeniedError):
            world.identity.list_tokens(alice, other)
    with pytest.raises(PermissionDeniedError):
        world.identity.list_tokens(alice, every=True)
    for_bob, _, _ = world.identity.create_token(admin, "ci", principal_name="bob")
    assert {v.principal for v in world.identity.list_tokens(admin, every=True)} == {
        "root",
        "alice",
        "bob",
    }
    assert for_bob.id in {v.record.id for v in world.identity.list_tokens(admin, "bob")}
    with pytest.raises(SpecError):
        world.identity.create_token(alice, "x", expires_in_s=0)
    with pytest.raises(SpecError):
        world.identity.create_token(alice, "")


def test_revoked_and_expired_tokens_are_refused_at_once(world: World) -> None:
    alice, _ = world.user("alice")
    record, plaintext, _ = world.identity.create_token(alice, "laptop", expires_in_s=60)
    assert world.caller(plaintext).name == "alice"  # cached now
    world.clock.now = T0 + 60
    with pytest.raises(AuthenticationError, match="expired"):
        world.caller(plaintext)
    states = {v.record.id: v.state for v in world.identity.list_tokens(alice)}
    assert states[record.id] == "expired"
    world.clock.now = T0
    assert world.caller(plaintext).name == "alice"
    revoked = world.identity.revoke_token(alice, record.id)
    assert revoked.revoked_at == T0
    with pytest.raises(AuthenticationError, match="revoked"):
        world.caller(plaintext)
    before = len(world.actions())
    assert world.identity.revoke_token(alice, record.id).revoked_at == T0  # twice: a no-op
    assert world.actions()[before:] == [("alice", "token.revoke", "ok")]  # but audited
    assert ("anonymous", "auth.authenticate", "denied") in world.actions()


def test_another_principals_token_is_not_disclosed(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    alice, _ = world.user("alice")
    bob, bob_token = world.user("bob")
    theirs = world.identity.list_tokens(bob)[0].record
    with pytest.raises(NotFoundError) as hidden:
        world.identity.revoke_token(alice, theirs.id)
    with pytest.raises(NotFoundError) as missing:
        world.identity.revoke_token(alice, "tok-nope")
    assert str(hidden.value) == f"token {theirs.id} not found"
    assert str(missing.value) == "token tok-nope not found"
    assert ("alice", "token.revoke", "denied") in world.actions()
    assert world.caller(bob_token).name == "bob"
    world.identity.revoke_token(admin, theirs.id)
    with pytest.raises(AuthenticationError):
        world.caller(bob_token)


def test_a_disabled_principal_is_refused_at_once(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    _, plaintext = world.user("alice")
    assert world.caller(plaintext).name == "alice"
    world.identity.update_principal(admin, "alice", disabled=True)
    with pytest.raises(AuthenticationError, match="disabled"):
        world.caller(plaintext)
    with pytest.raises(ConflictError):
        world.identity.create_token(admin, "new", principal_name="alice")
    world.identity.update_principal(admin, "alice", disabled=False)
    assert world.caller(plaintext).name == "alice"


def test_ensure_admin_only_on_the_first_start(world: World) -> None:
    plaintext = world.identity.ensure_admin()
    assert plaintext is not None
    assert world.caller(plaintext).principal.is_admin
    assert world.identity.ensure_admin() is None


ISSUER = "https://idp.example"


def test_sign_in_creates_binds_and_maps_teams(world: World) -> None:
    claims = Claims(
        ISSUER,
        "sub-1",
        email="Ann.Lee@example.org",
        email_verified=True,
        preferred_username="Ann Lee",
        teams=("a", "b:owner", "not a team", "c:bogus", "a:viewer"),
    )
    caller = world.identity.sign_in(claims)
    assert caller.via == "oidc" and caller.name == "ann-lee"
    assert caller.principal.subject == f"{ISSUER} sub-1"
    assert caller.principal.email == "Ann.Lee@example.org"  # verified: stored
    assert dict(caller.claimed_teams) == {"a": TeamRole.MEMBER, "b": TeamRole.OWNER}
    # Claimed teams are never stored; global roles never come from claims.
    assert world.store.principals.get(caller.principal.id).teams == {}
    assert caller.principal.global_role is None
    # The same identity again: the same principal; another with the same username: a new name.
    assert world.identity.sign_in(claims).principal.id == caller.principal.id
    other = world.identity.sign_in(Claims(ISSUER, "sub-2", preferred_username="ann-lee"))
    assert other.name == "ann-lee-2"


def test_sign_in_by_verified_email_only(world: World) -> None:
    admin, _ = world.user("root", role=GlobalRole.ADMIN)
    existing = world.identity.create_principal(
        admin, "carol", email="carol@example.org", global_role=GlobalRole.ADMIN
    )
    # Said unverified, or no word on it (the claim left out): not carol, and not stored.
    for word in (False, None):
        unverified = Claims(ISSUER, f"s-{word}", email="carol@example.org", email_verified=word)
        stranger = world.identity.sign_in(unverified)
        assert stranger.principal.id != existing.id and stranger.principal.global_role is None
        assert stranger.principal.email is None
    assert world.store.principals.get(existing.id).subject is None  # still unbound
    verified = Claims(ISSUER, "s-c", email="CAROL@example.org", email_verified=True)
    bound = world.identity.sign_in(verified)
    assert bound.principal.id == existing.id and bound.principal.subject == f"{ISSUER} s-c"
    # Bound now: another identity with that e-mail, even verified, does not get the account.
    with pytest.raises(AuthenticationError, match="another identity"):
        world.identity.sign_in(
            Claims(ISSUER, "s-evil", email="carol@example.org", email_verified=True)
        )
    assert world.store.principals.get(existing.id).subject == f"{ISSUER} s-c"
    world.identity.update_principal(admin, "carol", disabled=True)
    with pytest.raises(AuthenticationError, match="disabled"):
        world.identity.sign_in(verified)


def test_an_unverified_email_does_not_take_the_address_from_its_owner(world: World) -> None:
    # First to sign in with dave's address, unverified: a user, without the address.
    squatter = world.identity.sign_in(Claims(ISSUER, "s-att", email="dave@example.org"))
    assert world.store.principals.get(squatter.principal.id).email is None
    # Dave, verified, later: his own new user with his address, not refused as taken.
    dave = world.identity.sign_in(
        Claims(ISSUER, "s-dave", email="dave@example.org", email_verified=True)
    )
    assert dave.principal.id != squatter.principal.id
    assert dave.principal.email == "dave@example.org"
    assert dave.principal.subject == f"{ISSUER} s-dave"


def test_claimed_teams_parsing() -> None:
    assert claimed_teams(("x:approver", "x", "y:member", "/admins", "")) == {
        "x": TeamRole.APPROVER,
        "y": TeamRole.MEMBER,
    }
