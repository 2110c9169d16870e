"""What identities are made of, and the rules their inputs follow: names, e-mails, token
lifetimes, the views the identity service answers with, and the team roles an OIDC claim
gives. Pure helpers of ``services/identity.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from aiplane.core.auth import Principal, Resource, TeamRole, TokenRecord
from aiplane.core.errors import Problem, SpecError
from aiplane.oidc.base import Claims
from aiplane.services.audit import ANONYMOUS, SYSTEM

ADMIN_NAME = "admin"
# The longest a token made by a caller signed in with OIDC lives (and its default).
OIDC_TOKEN_MAX_S = 7 * 24 * 3600.0
# A workload's own token lives as long as this at most; it is revoked when its run ends.
WORKLOAD_TOKEN_TTL_S = 24 * 3600.0
# The longest lifetime a token may be given (ten years): beyond it, say "no expiry".
MAX_TOKEN_TTL_S = 10 * 365 * 24 * 3600.0

# Principal and team names: what the audit log, job listings and URLs show.
NAME_RULE = "[a-z0-9][a-z0-9._-]{0,62}"
_NAME = re.compile(NAME_RULE)
_TOKEN_NAME_MAX = 100
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The audit log's actors for no principal: a refusal before authentication, and what the
# control plane does itself.
RESERVED_NAMES = frozenset({ANONYMOUS, SYSTEM})


# ``update_principal(global_role=CLEAR)``: take the global role away (None leaves it as is).
CLEAR: Final = "none"


@dataclass(frozen=True)
class Member:
    """One principal's role in one team."""

    principal: Principal
    role: TeamRole


@dataclass(frozen=True)
class TokenView:
    """A token as a listing shows it: never its hash, never its plaintext."""

    record: TokenRecord
    principal: str  # the holder's name
    state: str  # active, expired or revoked


def check_name(value: str, location: str) -> str:
    if not _NAME.fullmatch(value):
        raise SpecError(
            f"invalid {location}",
            [Problem(location, "not a valid name", repr(value)[:80], NAME_RULE)],
        )
    return value


def check_principal_name(value: str, location: str = "name") -> str:
    """A principal's name: a valid name, and not one the audit log uses for no principal."""
    check_name(value, location)
    if value in RESERVED_NAMES:
        raise SpecError(
            f"invalid {location}",
            [
                Problem(
                    location,
                    "reserved: the audit log's actor for no principal",
                    repr(value),
                    f"{NAME_RULE}, other than {', '.join(sorted(RESERVED_NAMES))}",
                )
            ],
        )
    return value


def check_token_name(value: str) -> str:
    if not value.strip() or len(value) > _TOKEN_NAME_MAX or not value.isprintable():
        raise SpecError(
            "invalid token name",
            [
                Problem(
                    "name",
                    "not a valid token name",
                    repr(value)[:80],
                    f"1 to {_TOKEN_NAME_MAX} printable characters",
                )
            ],
        )
    return value


def check_email(value: str | None) -> str | None:
    if value is not None and not EMAIL.fullmatch(value):
        raise SpecError(
            "invalid e-mail",
            [Problem("email", "not an e-mail address", repr(value)[:80], "name@domain.tld")],
        )
    return value


def check_ttl(expires_in_s: float | None) -> float | None:
    if expires_in_s is not None and not 0 < expires_in_s <= MAX_TOKEN_TTL_S:
        raise SpecError(
            "invalid token lifetime",
            [
                Problem(
                    "expires_in_s",
                    "out of range",
                    str(expires_in_s),
                    f"more than 0 and at most {MAX_TOKEN_TTL_S:.0f} seconds",
                )
            ],
        )
    return expires_in_s


def token_state(record: TokenRecord, now: float) -> str:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and now >= record.expires_at:
        return "expired"
    return "active"


def principal_resource(principal: Principal) -> Resource:
    return Resource("principal", principal.name, owner=principal.id)


def token_resource(record: TokenRecord) -> Resource:
    return Resource("token", record.id, owner=record.principal_id)


def claimed_teams(values: tuple[str, ...]) -> dict[str, TeamRole]:
    """The teams claim: ``team`` is a member, ``team:role`` that role; values that are not a
    team name (a provider's other groups) are ignored, and a team named twice keeps its
    highest role."""
    out: dict[str, TeamRole] = {}
    for value in values:
        team, _, role_name = value.partition(":")
        if not _NAME.fullmatch(team):
            continue
        try:
            role = TeamRole(role_name) if role_name else TeamRole.MEMBER
        except ValueError:
            continue
        if team not in out or role.rank > out[team].rank:
            out[team] = role
    return out


def name_base(claims: Claims) -> str:
    """A principal name from the provider's username, else the e-mail's local part, else
    the subject: lowercased, every other character made a dash."""
    raw = claims.preferred_username or (claims.email or "").partition("@")[0] or claims.subject
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")
    return (cleaned or "user")[:55]
