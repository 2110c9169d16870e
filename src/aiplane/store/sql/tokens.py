"""API tokens in SQL: stored only as hashes, each pointing at its principal."""

from __future__ import annotations

from sqlalchemy import func, select, update

from aiplane.core.auth import TokenRecord
from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import ApiTokenRow, table_of

_TOKENS = table_of(ApiTokenRow)


class SqlTokenRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def add(self, token: TokenRecord) -> None:
        with self._scope() as session:
            if not insert_new(session, _TOKENS, mappers.token_values(token)):
                raise ConflictError(f"token {token.id} (or its hash) is already stored")

    def by_hash(self, token_hash: str) -> TokenRecord | None:
        stmt = select(_TOKENS).where(_TOKENS.c.token_hash == token_hash)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        return mappers.token_from(row) if row is not None else None

    def get(self, token_id: str) -> TokenRecord:
        stmt = select(_TOKENS).where(_TOKENS.c.id == token_id)
        with self._scope() as session:
            row = session.execute(stmt).mappings().first()
        if row is None:
            raise NotFoundError(f"token {token_id} not found")
        return mappers.token_from(row)

    def listing(self, principal_id: str | None = None) -> list[TokenRecord]:
        stmt = select(_TOKENS).order_by(_TOKENS.c.created_at.desc(), _TOKENS.c.id.desc())
        if principal_id is not None:
            stmt = stmt.where(_TOKENS.c.principal_id == principal_id)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
        return [mappers.token_from(row) for row in rows]

    def revoke(self, token_id: str, at: float) -> TokenRecord:
        # "revoked_at IS NULL": a token revoked already keeps its first time.
        stmt = (
            update(_TOKENS)
            .where(_TOKENS.c.id == token_id, _TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        with self._scope() as session:
            session.execute(stmt)
            row = session.execute(select(_TOKENS).where(_TOKENS.c.id == token_id)).mappings()
            found = row.first()
        if found is None:
            raise NotFoundError(f"token {token_id} not found")
        return mappers.token_from(found)

    def count(self) -> int:
        with self._scope() as session:
            return session.scalar(select(func.count()).select_from(_TOKENS)) or 0
