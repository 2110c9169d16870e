"""What an endpoint's gateway does with each guard's hits."""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.core.guards.types import GuardAction


@dataclass(frozen=True)
class GuardPolicy:
    """Per endpoint, each guard's action (None: the guard does not run)."""

    # On the request's prompt and the documents it carries: block or flag.
    injection: GuardAction | None = None
    # On the request: block, redact (placeholders before the upstream sees it) or flag.
    pii: GuardAction | None = None
    pii_types: tuple[str, ...] = ()  # which of PII_TYPES; (): all
    # With ``pii: redact``: put the originals back in the response (else it stays redacted).
    restore_pii: bool = True
    # On the response: block, redact or flag.
    output_pii: GuardAction | None = None
    # A canary planted in the system prompt; a response that carries it: block or flag.
    canary: GuardAction | None = None

    @property
    def pii_wanted(self) -> tuple[str, ...] | None:
        """``pii_types`` as ``find_pii`` takes them: None (every type) for the empty list,
        which ``find_pii`` would read as no type at all."""
        return self.pii_types or None

    @property
    def any(self) -> bool:
        return any(a is not None for a in (self.injection, self.pii, self.output_pii, self.canary))
