"""API tokens in SQL."""

from __future__ import annotations

from sqlalchemy import func, select

from aiplane.core.auth import TokenRecord
from aiplane.core.errors import ConflictError
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

    def count(self) -> int:
        with self._scope() as session:
            return session.scalar(select(func.count()).select_from(_TOKENS)) or 0
