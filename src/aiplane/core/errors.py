"""One error tree for the whole project.

Every error carries a stable machine-readable ``code``; the API maps each class to an HTTP
status in one table (``aiplane.api.errors``), and the CLI prints ``message`` and ``details``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem found in user input: where it is, what was given, what is allowed."""

    location: str
    message: str
    given: str | None = None
    allowed: str | None = None

    def render(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.given is not None:
            text += f" (given: {self.given})"
        if self.allowed is not None:
            text += f"; allowed: {self.allowed}"
        return text


@dataclass
class AiplaneError(Exception):
    message: str
    problems: list[Problem] = field(default_factory=list)

    code = "internal"
    # Set once the refusal this error reports is in the audit log (``services.access``), so
    # that the API does not record the failed call a second time.
    audited = False

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message] + [f"  - {p.render()}" for p in self.problems]
        return "\n".join(lines)


class SpecError(AiplaneError):
    """A fleet or workload spec (or an API body) is invalid."""

    code = "spec_invalid"


class NotFoundError(AiplaneError):
    code = "not_found"


class ConflictError(AiplaneError):
    """The request conflicts with the current state (e.g. a concurrent update)."""

    code = "conflict"


class IllegalTransitionError(ConflictError):
    """A run was asked to move between states that the transition table does not allow."""

    code = "illegal_transition"


class AuthenticationError(AiplaneError):
    code = "unauthenticated"


class PermissionDeniedError(AiplaneError):
    code = "forbidden"


class BackendError(AiplaneError):
    """An execution backend failed to do what it was asked."""

    code = "backend_error"


class InconsistentSnapshotError(AiplaneError):
    """The scheduler's view of the runs contradicts itself (e.g. capacity freed by victims that
    does not fit the gang it was freed for): the store was written by someone else meanwhile,
    such as a second control plane. The cycle is skipped and the state reloaded."""

    code = "inconsistent_snapshot"


class CatalogError(AiplaneError):
    """A price catalog could not be read or does not know an instance type."""

    code = "catalog_error"


class StoreError(AiplaneError):
    code = "store_error"


class TelemetryError(AiplaneError):
    """A telemetry source cannot be used here (no driver, no library, unreadable device)."""

    code = "telemetry_error"


class BudgetExceededError(AiplaneError):
    """A budget rule blocks new work of this team or project until its period ends."""

    code = "budget_exceeded"


class MissingDependencyError(AiplaneError):
    """An optional feature needs a package that is not installed; the message says which."""

    code = "missing_dependency"


class IntegrityError(AiplaneError):
    """Bytes are not the bytes registered: a digest, a file list or a signature does not match.
    ``problems`` name each file that differs."""

    code = "integrity"


class PromotionRefusedError(AiplaneError):
    """An alias move was refused by the model's promotion policy; ``problems`` name every rule
    that failed (location: the rule)."""

    code = "promotion_refused"
