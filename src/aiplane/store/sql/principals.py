"""Principals in SQL: one aggregate over ``principals`` and their ``team_members`` rows.

A principal is read with its memberships and written with them: ``update`` replaces the rows
of its teams. A name, e-mail (case-insensitively, through ``email_lower``) or OIDC subject that
another principal holds is refused with ConflictError, checked before the write so that the
message names what is taken, and caught at the write (in a savepoint) for the race between two
writers: a failed statement on PostgreSQL would otherwise abort the whole unit of work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aiplane.core.auth import Principal
from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.store.sql import mappers
from aiplane.store.sql.session import Scope, insert_new
from aiplane.store.sql.tables import PrincipalRow, TeamMemberRow, table_of

_PRINCIPALS = table_of(PrincipalRow)
_MEMBERS = table_of(TeamMemberRow)


def _taken(session: Session, principal: Principal) -> str | None:
    """What of ``principal`` another stored principal holds already (the memory member's
    words)."""
    p = _PRINCIPALS.c
    claims: list[ColumnElement[bool]] = [p.name == principal.name]
    if principal.email:
        claims.append(p.email_lower == principal.email.lower())
    if principal.subject:
        claims.append(p.subject == principal.subject)
    stmt = select(p.name, p.email_lower, p.subject).where(p.id != principal.id, or_(*claims))
    rows = session.execute(stmt).all()
    if any(row.name == principal.name for row in rows):
        return f"the name {principal.name!r}"
    if principal.email and any(row.email_lower == principal.email.lower() for row in rows):
        return f"the e-mail {principal.email!r}"
    if principal.subject and any(row.subject == principal.subject for row in rows):
        return f"the subject {principal.subject!r}"
    return None


@contextmanager
def _refusing_duplicates(session: Session) -> Iterator[None]:
    """Run a write in a savepoint; a unique key taken in between becomes a ConflictError and
    leaves the surrounding transaction usable."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise ConflictError(
            "the name, e-mail or subject belongs to another principal (written concurrently)"
        ) from exc


def _with_teams(session: Session, rows: Sequence[mappers.Values]) -> list[Principal]:
    if not rows:
        return []
    ids: Collection[str] = [row["id"] for row in rows]
    stmt = select(_MEMBERS).where(_MEMBERS.c.principal_id.in_(ids))
    teams: dict[str, dict[str, str]] = defaultdict(dict)
    for member in session.execute(stmt).mappings():
        teams[member["principal_id"]][member["team"]] = member["role"]
    return [mappers.principal_from(row, teams.get(row["id"], {})) for row in rows]


class SqlPrincipalRepository:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def _one(self, condition: ColumnElement[bool]) -> Principal | None:
        stmt = select(_PRINCIPALS).where(condition)
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
            found = _with_teams(session, rows)
        return found[0] if found else None

    def _many(self, stmt: Any) -> list[Principal]:
        with self._scope() as session:
            rows = session.execute(stmt).mappings().all()
            return _with_teams(session, rows)

    def add(self, principal: Principal) -> None:
        with self._scope() as session:
            exists = select(_PRINCIPALS.c.id).where(_PRINCIPALS.c.id == principal.id)
            if session.execute(exists).first() is not None:
                raise ConflictError(f"principal {principal.id} is already stored")
            taken = _taken(session, principal)
            if taken is not None:
                raise ConflictError(f"{taken} belongs to another principal")
            if not insert_new(session, _PRINCIPALS, mappers.principal_values(principal)):
                raise ConflictError(
                    f"principal {principal.id}, its name, e-mail or subject is stored already "
                    "(written concurrently)"
                )
            members = mappers.member_values(principal)
            if members:
                session.execute(insert(_MEMBERS), members)

    def get(self, principal_id: str) -> Principal:
        found = self._one(_PRINCIPALS.c.id == principal_id)
        if found is None:
            raise NotFoundError(f"principal {principal_id} not found")
        return found

    def by_name(self, name: str) -> Principal | None:
        return self._one(_PRINCIPALS.c.name == name)

    def by_subject(self, subject: str) -> Principal | None:
        return self._one(_PRINCIPALS.c.subject == subject)

    def by_email(self, email: str) -> Principal | None:
        return self._one(_PRINCIPALS.c.email_lower == email.lower())

    def listing(self) -> list[Principal]:
        return self._many(select(_PRINCIPALS).order_by(_PRINCIPALS.c.name))

    def members(self, team: str) -> list[Principal]:
        in_team = select(_MEMBERS.c.principal_id).where(_MEMBERS.c.team == team)
        stmt = (
            select(_PRINCIPALS)
            .where(_PRINCIPALS.c.id.in_(in_team.scalar_subquery()))
            .order_by(_PRINCIPALS.c.name)
        )
        return self._many(stmt)

    def update(self, principal: Principal) -> None:
        values = mappers.principal_values(principal)
        del values["id"]  # identity, never rewritten
        with self._scope() as session:
            exists = select(_PRINCIPALS.c.id).where(_PRINCIPALS.c.id == principal.id)
            if session.execute(exists).first() is None:
                raise NotFoundError(f"principal {principal.id} not found")
            taken = _taken(session, principal)
            if taken is not None:
                raise ConflictError(f"{taken} belongs to another principal")
            with _refusing_duplicates(session):
                stmt = update(_PRINCIPALS).where(_PRINCIPALS.c.id == principal.id)
                session.execute(stmt.values(values))
            session.execute(delete(_MEMBERS).where(_MEMBERS.c.principal_id == principal.id))
            members = mappers.member_values(principal)
            if members:
                session.execute(insert(_MEMBERS), members)

    def count(self) -> int:
        with self._scope() as session:
            return session.scalar(select(func.count()).select_from(_PRINCIPALS)) or 0
