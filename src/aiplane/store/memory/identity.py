"""Principals, tokens and the audit log in memory."""

from __future__ import annotations

from dataclasses import replace

from aiplane.core.audit import GENESIS, AuditEntry, AuditHead
from aiplane.core.auth import Principal, TokenRecord
from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.store.base import Seal
from aiplane.store.memory.data import Data, Repository


def _taken(d: Data, principal: Principal) -> str | None:
    """What of ``principal`` another stored principal holds already."""
    for other in d.principals.values():
        if other.id == principal.id:
            continue
        if other.name == principal.name:
            return f"the name {principal.name!r}"
        if principal.email and (other.email or "").lower() == principal.email.lower():
            return f"the e-mail {principal.email!r}"
        if principal.subject and other.subject == principal.subject:
            return f"the subject {principal.subject!r}"
    return None


class Principals(Repository):
    def add(self, principal: Principal) -> None:
        with self._locked() as d:
            if principal.id in d.principals:
                raise ConflictError(f"principal {principal.id} is already stored")
            taken = _taken(d, principal)
            if taken is not None:
                raise ConflictError(f"{taken} belongs to another principal")
            d.principals[principal.id] = principal
            self._undo(lambda: d.principals.pop(principal.id))

    def get(self, principal_id: str) -> Principal:
        with self._locked() as d:
            found = d.principals.get(principal_id)
        if found is None:
            raise NotFoundError(f"principal {principal_id} not found")
        return found

    def by_name(self, name: str) -> Principal | None:
        with self._locked() as d:
            return next((p for p in d.principals.values() if p.name == name), None)

    def by_subject(self, subject: str) -> Principal | None:
        with self._locked() as d:
            return next((p for p in d.principals.values() if p.subject == subject), None)

    def by_email(self, email: str) -> Principal | None:
        wanted = email.lower()
        with self._locked() as d:
            return next(
                (p for p in d.principals.values() if (p.email or "").lower() == wanted), None
            )

    def listing(self) -> list[Principal]:
        with self._locked() as d:
            return sorted(d.principals.values(), key=lambda p: p.name)

    def members(self, team: str) -> list[Principal]:
        return [p for p in self.listing() if team in p.teams]

    def update(self, principal: Principal) -> None:
        with self._locked() as d:
            old = d.principals.get(principal.id)
            if old is None:
                raise NotFoundError(f"principal {principal.id} not found")
            taken = _taken(d, principal)
            if taken is not None:
                raise ConflictError(f"{taken} belongs to another principal")
            d.principals[principal.id] = principal
            self._undo(lambda: d.principals.__setitem__(principal.id, old))

    def count(self) -> int:
        with self._locked() as d:
            return len(d.principals)


class Tokens(Repository):
    def add(self, token: TokenRecord) -> None:
        with self._locked() as d:
            if token.token_hash in d.tokens or any(t.id == token.id for t in d.tokens.values()):
                raise ConflictError(f"token {token.id} (or its hash) is already stored")
            d.tokens[token.token_hash] = token
            self._undo(lambda: d.tokens.pop(token.token_hash))

    def by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._locked() as d:
            return d.tokens.get(token_hash)

    def get(self, token_id: str) -> TokenRecord:
        with self._locked() as d:
            found = next((t for t in d.tokens.values() if t.id == token_id), None)
        if found is None:
            raise NotFoundError(f"token {token_id} not found")
        return found

    def listing(self, principal_id: str | None = None) -> list[TokenRecord]:
        with self._locked() as d:
            found = [t for t in d.tokens.values() if principal_id in (None, t.principal_id)]
        return sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)

    def revoke(self, token_id: str, at: float) -> TokenRecord:
        with self._locked() as d:
            old = self.get(token_id)
            if old.revoked_at is not None:
                return old
            new = replace(old, revoked_at=at)
            d.tokens[old.token_hash] = new
            self._undo(lambda: d.tokens.__setitem__(old.token_hash, old))
            return new

    def count(self) -> int:
        with self._locked() as d:
            return len(d.tokens)


def _matches(entry: AuditEntry, actor: str | None, resource: str | None) -> bool:
    if actor is not None and entry.record.actor != actor:
        return False
    if resource is None:
        return True
    if resource.endswith("/"):
        return entry.record.resource.startswith(resource)
    return entry.record.resource == resource


class Audit(Repository):
    def append(self, seal: Seal) -> AuditEntry:
        with self._locked() as d:
            previous = d.audit_head
            seq = previous.seq + 1 if previous is not None else 1
            entry = seal(seq, previous.hash if previous is not None else GENESIS)
            d.audit.append(entry)
            d.audit_head = AuditHead(entry.seq, entry.hash)

            def undo() -> None:
                d.audit.pop()
                d.audit_head = previous

            self._undo(undo)
            return entry

    def entries(self, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        with self._locked() as d:
            return [e for e in d.audit if e.seq > after_seq][:limit]

    def search(
        self,
        *,
        since: float | None = None,
        actor: str | None = None,
        resource: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        with self._locked() as d:
            found = [
                e
                for e in d.audit
                if (since is None or e.record.at >= since) and _matches(e, actor, resource)
            ]
        return found[-limit:] if limit > 0 else []

    def head(self) -> AuditHead | None:
        with self._locked() as d:
            return d.audit_head
