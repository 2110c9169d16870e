from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from aiplane.client._http import Http
from aiplane.wire.audit import AuditEntryOut, VerificationOut


class Audit:
    """``/audit``: the hash-chained audit log (admin).

    ``since`` is ``YYYY-MM-DD[THH:MM[:SS]][Z]`` (UTC unless an offset is given) or epoch
    seconds; ``resource`` is exact (``job/j-1``) or a prefix ending in ``/`` (``job/``).
    """

    def __init__(self, http: Http) -> None:
        self._http = http

    def log(
        self,
        since: str | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntryOut]:
        """The newest entries that match (100 unless ``limit``), oldest first."""
        params = {"since": since, "actor": actor, "resource": resource, "limit": limit}
        return self._http.call_list(AuditEntryOut, "GET", "/audit", params)

    def verify(self, expect: str | None = None) -> VerificationOut:
        """Check the chain; ``expect`` (``SEQ:HASH``) is a head recorded earlier that the log
        must still hold. A broken log is an answer (``ok`` false), not an error."""
        return self._http.call(VerificationOut, "GET", "/audit/verify", {"expect": expect})

    def export(self, out: Path | BinaryIO) -> int:
        """Write the whole log as JSON lines to ``out`` (a path, or a binary stream);
        returns the bytes written."""
        if isinstance(out, Path):
            return self._http.download("/audit/export", out, {})
        return self._http.copy("/audit/export", out, {})
