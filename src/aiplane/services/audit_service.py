"""Reading the audit log, for the edges: ``/audit`` and ``aiplane audit``.

The log itself (``AuditLog``) is what the other services and ``Access`` write through; it asks
no one. Reading it needs ``Action.AUDIT_READ`` (admins), so the edges get this small service,
which holds both: ``Access`` checks (and records a refusal), then ``AuditLog`` answers. Kept
apart from ``AuditLog`` because ``Access`` holds the log: a log that also held ``Access``
would be a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiplane.core.audit import AuditEntry, AuditHead, Verification
from aiplane.core.auth import Action, Caller, Resource
from aiplane.core.errors import Problem, SpecError
from aiplane.services.access import Access
from aiplane.services.audit import DEFAULT_LIMIT, AuditLog

_AUDIT = Resource("audit")
_HEAD = re.compile(r"([0-9]+):([0-9a-f]{64})")
HEAD_FORM = "SEQ:HASH (the head an earlier verify printed: a number, a colon, 64 hex digits)"


class AuditService:
    def __init__(self, audit: AuditLog, access: Access) -> None:
        self._audit = audit
        self._access = access

    @staticmethod
    def parse_head(text: str, location: str = "expect") -> AuditHead:
        """``SEQ:HASH`` as ``verify`` prints its head; SpecError naming ``location``."""
        match = _HEAD.fullmatch(text.strip().lower())
        if match is None or int(match.group(1)) < 1:
            raise SpecError(
                "invalid expected head", [Problem(location, "not a head", repr(text), HEAD_FORM)]
            )
        return AuditHead(int(match.group(1)), match.group(2))

    def entries_for(
        self,
        caller: Caller,
        since: float | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[AuditEntry]:
        self._access.check(caller, Action.AUDIT_READ, _AUDIT)
        return self._audit.search(since=since, actor=actor, resource=resource, limit=limit)

    def verify_for(self, caller: Caller, expected: AuditHead | None = None) -> Verification:
        self._access.check(caller, Action.AUDIT_READ, _AUDIT)
        return self._audit.verify(expected)

    def export_for(self, caller: Caller) -> Iterator[str]:
        """The whole log as JSON lines. Checked here, before the first line is asked for (the
        lines are a generator: a check inside it would run only once streaming began)."""
        self._access.check(caller, Action.AUDIT_READ, _AUDIT)
        return self._audit.export()
