"""What the services know of OIDC: verified claims, and the one call that yields them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Claims:
    """The claims of a verified ID or access token that sign-in uses (nothing else is kept)."""

    issuer: str
    subject: str
    email: str | None = None
    # The provider's word on the e-mail; None when it does not say.
    email_verified: bool | None = None
    preferred_username: str | None = None
    # The values of the teams claim (``AIPLANE_OIDC_TEAMS_CLAIM``), unparsed.
    teams: tuple[str, ...] = field(default_factory=tuple)

    @property
    def identity(self) -> str:
        """What a principal's ``subject`` holds: issuer and subject, one space between."""
        return f"{self.issuer} {self.subject}"


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Claims:
        """The claims of ``token`` once its signature, issuer, audience and lifetime check
        out; else ``AuthenticationError`` saying which did not."""
        ...
