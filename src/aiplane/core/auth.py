"""Roles and what each may do. Tokens themselves live in the store, only as hashes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        """Roles are ordered: each may do everything the roles below it may."""
        return self.rank >= required.rank


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: Role
    token_hash: str
    created_at: float
    revoked: bool = False
