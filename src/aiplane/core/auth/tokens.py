"""API tokens: each belongs to a principal, is stored only as a hash, may expire, and may be
narrowed to one job (a workload's own token)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenScope:
    """A token that acts on one job of one team only: what a workload is given."""

    team: str
    job_id: str


@dataclass(frozen=True)
class TokenRecord:
    id: str
    principal_id: str
    name: str
    token_hash: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    scope: TokenScope | None = None
    # The first characters of the plaintext (``aip_Xy3k``): enough to recognise a token in a
    # listing, far too few to use it.
    prefix: str = ""

    def unusable_reason(self, now: float) -> str | None:
        """Why this token cannot be used at ``now``; None when it can."""
        if self.revoked_at is not None:
            return f"token {self.name!r} was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return f"token {self.name!r} expired"
        return None
